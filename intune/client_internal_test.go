package intune

import (
	"strings"
	"testing"
)

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

func TestRedactRemovesTheSecret(t *testing.T) {
	secret := "Xy8Q~abcdefghijklmnopqrstuvwxyz0123456789"
	c, err := New(Config{TenantID: "contoso.onmicrosoft.com", ClientID: "0177548a-548a-0177-8a54-77018a547701", ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	e := c.redact(&Error{Message: "refused client_secret=" + secret + " for app", Code: secret})
	if strings.Contains(e.Error(), secret) || strings.Contains(e.Code, secret) || !strings.Contains(e.Message, "client_secret=[secret] for app") {
		t.Fatalf("redacted: %+v", e)
	}
}

func TestDecodeAnswer(t *testing.T) {
	var p assignmentPage
	if e := decodeAnswer([]byte(" \n"), &p); e == nil || !e.Retryable() {
		t.Errorf("empty body: %v", e)
	}
	if e := decodeAnswer([]byte(`{"value":[{"intent":1}]}`), &p); e == nil || e.Retryable() || e.Kind != KindInvalid {
		t.Errorf("bad JSON: %v", e)
	}
	if e := decodeAnswer(nil, nil); e != nil {
		t.Errorf("no body expected: %v", e)
	}
	if e := decodeAnswer([]byte(`{"value":[]}`), &p); e != nil {
		t.Errorf("good answer: %v", e)
	}
}
