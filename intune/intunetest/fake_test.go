package intunetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/guildhouse/guildhall/intune"
)

// The fake must refuse what Graph refuses, or tests against it prove nothing
// about the wire shapes.

func token(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(s.TokenURL(s.TenantID), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "scope": {s.Scope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.TokenType != "Bearer" || out.ExpiresIn != 3599 {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, out, err)
	}
	return out.AccessToken
}

func post(t *testing.T, s *Server, tok, path, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAssignRefusesUndocumentedShapes(t *testing.T) {
	s := New(t)
	app, group := uuid.NewString(), uuid.NewString()
	s.AddApp(App{ID: app, DisplayName: "A"})
	tok := token(t, s)
	path := "/v1.0/deviceAppManagement/mobileApps/" + app + "/assign"
	target := `{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"` + group + `"}`
	ok := `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":` + target + `,"settings":null}]}`
	if code, body := post(t, s, tok, path, "application/json", ok); code != 204 {
		t.Fatalf("documented body refused: %d %s", code, body)
	}
	if got := s.Assignments(app); len(got) != 1 || got[0].ID != group+"_1_0" || got[0].FilterType != "none" {
		t.Fatalf("stored %+v", got)
	}
	for name, body := range map[string]string{
		"not an object":        `[]`,
		"wrong top-level name": `{"assignments":[]}`,
		"extra top-level":      `{"mobileAppAssignments":[],"x":1}`,
		"no @odata.type":       `{"mobileAppAssignments":[{"intent":"required","target":` + target + `}]}`,
		"unknown intent":       `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"install","target":` + target + `}]}`,
		"unknown property":     `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":` + target + `,"groupId":"x"}]}`,
		"target without type":  `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":{"groupId":"` + group + `"}}]}`,
		"group not an id":      `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":{"@odata.type":"#microsoft.graph.groupAssignmentTarget","groupId":"ring-1"}}]}`,
		"settings a string":    `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":` + target + `,"settings":"x"}]}`,
		"group twice":          `{"mobileAppAssignments":[{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"required","target":` + target + `},{"@odata.type":"#microsoft.graph.mobileAppAssignment","intent":"available","target":` + target + `}]}`,
	} {
		if code, resp := post(t, s, tok, path, "application/json", body); code != 400 || !strings.Contains(resp, `"code":"BadRequest"`) {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	if code, _ := post(t, s, tok, path, "text/plain", ok); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", code)
	}
	if code, _ := post(t, s, "not-a-token", path, "application/json", ok); code != 401 {
		t.Errorf("bad token: %d", code)
	}
	if got := s.Assignments(app); len(got) != 1 {
		t.Fatalf("a refused body changed the state: %+v", got)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	s := New(t)
	base := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "scope": {s.Scope}}
	// with copies base with pairs set ("" deletes).
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for key, vs := range base {
			f[key] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	for _, c := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   int
	}{
		{"unknown tenant", uuid.NewString(), base, 400, 90002},
		{"app in another tenant", s.OtherTenantID, base, 400, 700016},
		{"unknown client", s.TenantID, with("client_id", uuid.NewString()), 400, 700016},
		{"wrong scope", s.TenantID, with("scope", "https://graph.microsoft.com/DeviceManagementApps.ReadWrite.All"), 400, 1002012},
		{"wrong secret", s.TenantID, with("client_secret", "nope"), 401, 7000215},
		{"no credential", s.TenantID, with("client_secret", ""), 401, 7000218},
		{"bad assertion", s.TenantID, with("client_secret", "", "client_assertion_type", intune.AssertionType, "client_assertion", "a.b.c"), 401, 700027},
	} {
		resp, err := s.HTTPClient().PostForm(s.TokenURL(c.tenant), c.form)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Codes       []int  `json:"error_codes"`
			TraceID     string `json:"trace_id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || len(body.Codes) != 1 || body.Codes[0] != c.code || body.Error == "" || body.TraceID == "" ||
			!strings.HasPrefix(body.Description, "AADSTS") || !strings.Contains(body.Description, "\r\nTrace ID: ") {
			t.Errorf("%s: %d %+v", c.name, resp.StatusCode, body)
		}
	}
}

func TestAssignmentPages(t *testing.T) {
	s := New(t)
	app := uuid.NewString()
	s.AddApp(App{ID: app})
	var as []Assignment
	for range 3 {
		as = append(as, Assignment{Intent: "available", TargetType: intune.TypeGroupTarget, GroupID: uuid.NewString()})
	}
	s.SetAssignments(app, as...)
	s.SetPageSize(2)
	tok := token(t, s)
	next := s.URL + "/v1.0/deviceAppManagement/mobileApps/" + app + "/assignments"
	var n, pages int
	for next != "" {
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Context string            `json:"@odata.context"`
			Value   []json.RawMessage `json:"value"`
			Next    string            `json:"@odata.nextLink"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if page.Context == "" {
			t.Fatal("no @odata.context")
		}
		n, next, pages = n+len(page.Value), page.Next, pages+1
	}
	if n != 3 || pages != 2 {
		t.Fatalf("%d assignments over %d pages", n, pages)
	}
}
