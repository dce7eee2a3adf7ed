package intune

import "testing"

func TestNextLinkMustStayOnGraph(t *testing.T) {
	c, err := New(Config{TenantID: "contoso.onmicrosoft.com", ClientID: "0177548a-548a-0177-8a54-77018a547701", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for link, ok := range map[string]bool{
		"https://graph.microsoft.com/v1.0/deviceAppManagement/mobileApps/x/assignments?$skiptoken=2": true,
		"https://graph.microsoft.com.evil.example/v1.0/deviceAppManagement/mobileApps/x/assignments": false,
		"http://graph.microsoft.com/v1.0/deviceAppManagement/mobileApps/x/assignments":               false,
		"https://graph.microsoft.com/beta/deviceAppManagement/mobileApps/x/assignments":              false,
		"https://attacker.example/collect":                                                           false,
		"::":                                                                                         false,
	} {
		if err := c.sameOrigin(link); (err == nil) != ok {
			t.Errorf("sameOrigin(%q) = %v", link, err)
		}
	}
	if c.tokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Errorf("token URL %s", c.tokenURL)
	}
}
