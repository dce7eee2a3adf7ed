package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func env(kv ...string) LookupFunc {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const secret = "0123456789abcdef0123456789abcdef"

func TestDefaultsAndOverrides(t *testing.T) {
	v, err := Inspect("web", env("SESSION_SECRET", secret, "POOL_SIZE", "25", "TRUSTED_PROXIES", "10.0.0.0/8, ,192.168.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	w := v.(*Web)
	if w.Addr != ":4000" || w.Host != "http://localhost:4000" || w.Temporal.Address != "127.0.0.1:7233" || w.LogFormat != "json" {
		t.Errorf("defaults not applied: %+v", w)
	}
	if w.PoolSize != 25 || !slices.Equal(w.TrustedProxies, []string{"10.0.0.0/8", "192.168.0.0/16"}) {
		t.Errorf("overrides not applied: pool %d proxies %q", w.PoolSize, w.TrustedProxies)
	}
	d, err := Inspect("dev", env())
	if err != nil {
		t.Fatal(err)
	}
	if dev := d.(*Dev); dev.LogFormat != "text" || dev.Addr != "127.0.0.1:4000" {
		t.Errorf("dev defaults: %+v", dev)
	}
	// The sender is this default alone (notify has none of its own), also
	// when the variable is set but empty.
	for _, e := range []LookupFunc{env("NOTIFY_SMTP_ADDR", "mail:25"), env("NOTIFY_SMTP_ADDR", "mail:25", "NOTIFY_SMTP_FROM", " ")} {
		wk, err := Inspect("worker", e)
		if err != nil {
			t.Fatal(err)
		}
		if from := wk.(*Worker).SMTPFrom; from != "guildhall@localhost" {
			t.Errorf("NOTIFY_SMTP_FROM default: %q", from)
		}
	}
}

func TestAltName(t *testing.T) {
	v, err := Inspect("web", env("SECRET_KEY_BASE", secret))
	if err != nil {
		t.Fatal(err)
	}
	if v.(*Web).SessionSecret != secret {
		t.Error("SECRET_KEY_BASE not read when SESSION_SECRET is unset")
	}
	v, _ = Inspect("web", env("SECRET_KEY_BASE", secret, "SESSION_SECRET", strings.Repeat("x", 40)))
	if v.(*Web).SessionSecret == secret {
		t.Error("SESSION_SECRET must win over SECRET_KEY_BASE")
	}
}

// Every error names the variable and says what it accepts.
func TestErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		role string
		env  LookupFunc
		want []string
	}{
		{"web", env(), []string{"SESSION_SECRET", "at least 32"}},
		{"web", env("SESSION_SECRET", secret, "POOL_SIZE", "ten"), []string{`POOL_SIZE="ten"`, "whole number"}},
		{"web", env("SESSION_SECRET", secret, "POOL_SIZE", "0"), []string{"POOL_SIZE=0", "at least 1"}},
		{"web", env("SESSION_SECRET", secret, "LOG_FORMAT", "yaml"), []string{`LOG_FORMAT="yaml"`, "json, text"}},
		{"web", env("SESSION_SECRET", secret, "GUILDHALL_CLUSTER_MODE", "yes please"), []string{"GUILDHALL_CLUSTER_MODE", "true or false"}},
		{"web", env("SESSION_SECRET", secret, "GUILDHALL_CLUSTER_MODE", "true"), []string{"GUILDHALL_CEREMONY_NAMESPACE", "DNS label"}},
		{"web", env("SESSION_SECRET", secret, "OIDC_ISSUER", "https://id.example"), []string{"OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together"}},
		{"web", env("SESSION_SECRET", secret, "TRUSTED_PROXIES", "10.0.0.1/33"), []string{"TRUSTED_PROXIES", "CIDR"}},
		{"web", env("SESSION_SECRET", secret, "OIDC_ROLE_MAP", "/guildhouse/security"), []string{"OIDC_ROLE_MAP", "claim-value=role", "OIDC is off"}},
		{"web", env("SESSION_SECRET", secret, "OIDC_ROLE_MAP", "/guildhouse/security=Security Team"), []string{"OIDC_ROLE_MAP", "not a role name"}},
		{"web", env("SESSION_SECRET", secret, "OIDC_ROLE_MAP", "=admin"), []string{"OIDC_ROLE_MAP", "no claim value"}},
		{"web", env("SESSION_SECRET", secret, "GUILDHALL_HOST", "guildhall.example"), []string{"GUILDHALL_HOST", "public base URL"}},
		{"web", env("SESSION_SECRET", secret, "GUILDHALL_ADDR", "4000"), []string{"GUILDHALL_ADDR", ":4000"}},
		{"worker", env("NOTIFY_WEBHOOK_FORMAT", "teams"), []string{"NOTIFY_WEBHOOK_FORMAT", "json, slack"}},
		{"worker", env("DATABASE_URL", "mysql://x"), []string{"DATABASE_URL", "postgres://"}},
		{"worker", env("WORKFLOW_CACHE_SIZE", "-1"), []string{"WORKFLOW_CACHE_SIZE=-1"}},
		{"worker", env("GRAPH_TENANT_ID", "contoso.onmicrosoft.com"), []string{"GRAPH_CLIENT_ID must be too", "set GRAPH_CLIENT_SECRET, or GRAPH_CLIENT_CERTIFICATE"}},
		{"worker", env("GRAPH_TENANT_ID", "t", "GRAPH_CLIENT_ID", "c", "GRAPH_CLIENT_SECRET", "s", "GRAPH_CLIENT_CERTIFICATE", "/c.pem"), []string{"use one credential"}},
		{"worker", env("GRAPH_CLIENT_SECRET", "s"), []string{"GRAPH_TENANT_ID is not"}},
		{"dev", env("GRAPH_DRIFT_INTERVAL", "10s"), []string{"GRAPH_DRIFT_INTERVAL", "1m and 168h"}},
	}
	for _, c := range cases {
		_, err := Inspect(c.role, c.env)
		if err == nil {
			t.Errorf("%s %v: no error", c.role, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", c.role, err, w)
			}
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	v, err := Inspect("web", env("SESSION_SECRET", secret, "DATABASE_URL", "postgres://guildhall:hunter2@db:5432/guildhall",
		"OIDC_ISSUER", "https://id.example/realms/g", "OIDC_CLIENT_ID", "guildhall", "OIDC_CLIENT_SECRET", "s3cr3t-oidc",
		"CHRONICLE_INGEST_TOKEN", "ingest-token-value"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Print(&buf, v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{secret, "hunter2", "s3cr3t-oidc", "ingest-token-value"} {
		if strings.Contains(out, s) {
			t.Errorf("printed configuration shows a secret %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"postgres://guildhall:xxxxx@db:5432/guildhall", "https://id.example/realms/g", "set (hidden)"} {
		if !strings.Contains(out, s) {
			t.Errorf("printed configuration lacks %q:\n%s", s, out)
		}
	}
	// A bad secret value is not echoed in the error either.
	_, err = Inspect("worker", env("DATABASE_URL", "postgres://u:hunter2@db/x", "POOL_SIZE", "x"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
}

func TestUnknownVariables(t *testing.T) {
	got := Unknown([]string{"GUILDHALL_HOTS=x", "GUILDHALL_HOST=y", "NOTIFY_SMTP_PASWORD=z", "GUILDHALL_TEST_PG=postgres://", "TEMPORAL_TLS_CERT=c", "HOME=/root", "GUILDHALL_FLUX=1"})
	want := []string{
		"GUILDHALL_FLUX is set but no Guildhall setting has that name; it is ignored",
		"GUILDHALL_HOTS is set but no Guildhall setting has that name; it is ignored (did you mean GUILDHALL_HOST?)",
		"NOTIFY_SMTP_PASWORD is set but no Guildhall setting has that name; it is ignored (did you mean NOTIFY_SMTP_PASSWORD?)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Unknown:\n got %q\nwant %q", got, want)
	}
}

// The configuration table in ARCHITECTURE.md lists exactly the variables the
// structs read, with the roles that read each, and the tags' defaults.
func TestArchitectureTableMatchesStructs(t *testing.T) {
	rows := architectureTable(t)
	readBy := map[string][]string{}
	defaults := map[string][]string{}
	for _, role := range Roles {
		cfg, _ := New(role)
		for _, f := range Fields(cfg) {
			for _, n := range []string{f.Env, f.Alt} {
				if n != "" && !slices.Contains(readBy[n], role) {
					readBy[n] = append(readBy[n], role)
				}
			}
			if f.Default != "" {
				defaults[f.Env] = append(defaults[f.Env], f.Default)
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range rows {
		for _, name := range r.names {
			seen[name] = true
			roles, ok := readBy[name]
			if !ok {
				t.Errorf("ARCHITECTURE.md lists %s, which no role reads", name)
				continue
			}
			slices.Sort(roles)
			if !slices.Equal(roles, r.roles) {
				t.Errorf("%s: ARCHITECTURE.md says used by %v, the structs say %v", name, r.roles, roles)
			}
			for _, d := range defaults[name] {
				if !strings.Contains(r.def, d) {
					t.Errorf("%s: ARCHITECTURE.md's default %q does not mention the default %q", name, r.def, d)
				}
			}
		}
	}
	for name := range readBy {
		if !seen[name] {
			t.Errorf("%s is read by %v but missing from ARCHITECTURE.md's configuration table", name, readBy[name])
		}
	}
}

type tableRow struct {
	names, roles []string
	def          string
}

func architectureTable(t *testing.T) []tableRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Configuration (environment)")
	if !ok {
		t.Fatal(`ARCHITECTURE.md has no "## Configuration (environment)" section`)
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	var rows []tableRow
	for _, line := range strings.Split(rest, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "| ") || len(cells) != 3 || cells[0] == "variable" {
			continue
		}
		var r tableRow
		for _, n := range strings.FieldsFunc(cells[0], func(c rune) bool { return c == ',' || c == '/' }) {
			n, _, _ = strings.Cut(strings.TrimSpace(n), " ")
			r.names = append(r.names, n)
		}
		for _, role := range strings.Split(cells[1], ",") {
			r.roles = append(r.roles, strings.TrimSpace(role))
		}
		slices.Sort(r.roles)
		r.def = cells[2]
		rows = append(rows, r)
	}
	if len(rows) < 10 {
		t.Fatalf("found only %d rows in the configuration table", len(rows))
	}
	return rows
}

func TestOIDCRoleMap(t *testing.T) {
	v, err := Inspect("web", env("SESSION_SECRET", secret, "OIDC_ISSUER", "https://id.example/realms/g", "OIDC_CLIENT_ID", "guildhall",
		"OIDC_CLIENT_SECRET", "x", "OIDC_ROLE_MAP", " /guildhouse/security=security, /guildhouse/admins=admin,/guildhouse/admins=security,team=a=release"))
	if err != nil {
		t.Fatal(err)
	}
	w := v.(*Web)
	if w.OIDC.RolesClaim != "groups" {
		t.Errorf("OIDC_ROLES_CLAIM default = %q, want groups", w.OIDC.RolesClaim)
	}
	m, err := w.OIDC.Roles()
	want := map[string][]string{"/guildhouse/security": {"security"}, "/guildhouse/admins": {"admin", "security"}, "team=a": {"release"}}
	if err != nil || len(m) != len(want) {
		t.Fatalf("Roles() = %v, %v", m, err)
	}
	for k, roles := range want {
		if !slices.Equal(m[k], roles) {
			t.Errorf("Roles()[%q] = %v, want %v", k, m[k], roles)
		}
	}
}
