package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/internal/testenv"
)

// TestREADMEOnboarding runs the README's "Onboarding a team" block as written
// on an empty, migrated Ops DB: its OIDC settings make a web configuration that
// starts, its first admin is added, its template applies, and the list shows
// the admin.
func TestREADMEOnboarding(t *testing.T) {
	dir := t.TempDir()
	useEnv(t, "DATABASE_URL", "sqlite:"+filepath.Join(dir, "ops.db"), "LOG_FORMAT", "text")
	cli(t, "migrate", "up") // a deployment's migration Job has done this
	readme, err := filepath.Abs(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	env := map[string]string{"SESSION_SECRET": strings.Repeat("s", 40)}
	var outputs []string
	for _, c := range testenv.READMECommands(t, readme, "onboarding") {
		switch w := c.Words; {
		case w[0] == "export":
			for _, kv := range w[1:] {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case w[0] == "cat" && len(w) == 3 && w[1] == ">":
			if err := os.WriteFile(w[2], []byte(c.Stdin), 0o600); err != nil {
				t.Fatal(err)
			}
		case w[0] == "guildhall":
			outputs = append(outputs, cli(t, w[1:]...))
		default:
			t.Fatalf("the onboarding block runs %q, which this test does not know", strings.Join(w, " "))
		}
	}
	// The web would start with these OIDC settings, and maps the admins' group.
	v, err := config.Inspect("web", func(k string) (string, bool) { s, ok := env[k]; return s, ok })
	if err != nil {
		t.Fatalf("the README's OIDC settings: %v", err)
	}
	roles, _ := v.(*config.Web).OIDC.Roles()
	admins := 0
	for _, rs := range roles {
		if slices.Contains(rs, "admin") {
			admins++
		}
	}
	if admins == 0 {
		t.Fatalf("OIDC_ROLE_MAP maps no group to admin: %v", roles)
	}
	all := strings.Join(outputs, "")
	for _, want := range []string{"added you@example.org (Your Name) with roles admin", "applied release v1", "you@example.org"} {
		if !strings.Contains(all, want) {
			t.Errorf("the onboarding commands did not print %q:\n%s", want, all)
		}
	}
}
