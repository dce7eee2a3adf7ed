package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml with the compose-spec loader (schema
// validation, interpolation, YAML merges, normalization, consistency checks) as
// `docker compose` would, with the given profiles enabled and an empty environment.
func loadCompose(t *testing.T, src []byte, profiles ...string) *types.Project {
	t.Helper()
	p, err := loadComposeErr(src, profiles...)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func loadComposeErr(src []byte, profiles ...string) (*types.Project, error) {
	dir, err := filepath.Abs(repoRoot)
	if err != nil {
		return nil, err
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml"), Content: src}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("guildhall", true)
		o.Profiles = profiles
	})
}

func composeSrc(t *testing.T) []byte { return readRepoFile(t, "docker-compose.yml") }

var guildhallServices = []string{"migrate", "temporal-setup", "worker", "web", "watcher"}

func TestComposeServices(t *testing.T) {
	def := loadCompose(t, composeSrc(t))
	want := []string{"postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-setup", "temporal-ui", "migrate", "worker", "web"}
	got := def.ServiceNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("default services %v, want %v", got, want)
	}
	// The watcher starts only with its profile (it needs a kubeconfig).
	if _, err := def.GetService("watcher"); err == nil {
		t.Errorf("watcher runs without the watcher profile")
	}
	withWatcher := loadCompose(t, composeSrc(t), "watcher")
	w, err := withWatcher.GetService("watcher")
	if err != nil {
		t.Fatalf("watcher with --profile watcher: %v", err)
	}
	if w.Environment["KUBECONFIG"] == nil || *w.Environment["KUBECONFIG"] == "" {
		t.Errorf("watcher has no KUBECONFIG")
	}
	mounted := slices.ContainsFunc(w.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Target == *w.Environment["KUBECONFIG"] && v.ReadOnly
	})
	if !mounted {
		t.Errorf("watcher's KUBECONFIG %s is not a read-only mounted file", *w.Environment["KUBECONFIG"])
	}
}

// Every image is pinned to a version; the Guildhall services build this repo's
// Dockerfile.
func TestComposeImages(t *testing.T) {
	p := loadCompose(t, composeSrc(t), "watcher")
	for _, s := range p.Services {
		if slices.Contains(guildhallServices, s.Name) {
			if s.Build == nil || s.Build.Dockerfile != "Dockerfile" || s.Build.Context != p.WorkingDir {
				t.Errorf("%s: must build the repo's Dockerfile, got %+v", s.Name, s.Build)
			}
			if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
				t.Errorf("%s: local image %q needs an explicit non-latest tag", s.Name, s.Image)
			}
			continue
		}
		if err := pinned(s.Image); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	pg, _ := p.GetService("postgres")
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image %s, want postgres:16", pg.Image)
	}
	for name, prefix := range map[string]string{"temporal": "temporalio/server:", "temporal-ui": "temporalio/ui:",
		"temporal-schema": "temporalio/admin-tools:", "temporal-namespace": "temporalio/admin-tools:"} {
		if s, _ := p.GetService(name); !strings.HasPrefix(s.Image, prefix) {
			t.Errorf("%s image %s, want %s…", name, s.Image, prefix)
		}
	}
}

// Health checks exist where something waits on service_healthy, and the start order
// is enforced by depends_on conditions.
func TestComposeHealthAndOrder(t *testing.T) {
	p := loadCompose(t, composeSrc(t), "watcher")
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pg := svc("postgres")
	if pg.HealthCheck == nil || pg.HealthCheck.Disable || !strings.Contains(strings.Join(pg.HealthCheck.Test, " "), "pg_isready") {
		t.Errorf("postgres health check must run pg_isready, got %+v", pg.HealthCheck)
	}
	for _, name := range []string{"worker", "web", "watcher"} {
		hc := svc(name).HealthCheck
		want := "metrics"
		if name == "web" {
			want = "web"
		}
		if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/guildhall", "healthcheck", "--target", want}) {
			t.Errorf("%s: health check %v, want guildhall healthcheck --target %s", name, hc, want)
		}
	}
	// The server image has no CLI for a health check: temporal-namespace waits
	// for it and is the gate everything after it waits on.
	wantDeps := map[string]map[string]string{
		"temporal-schema":    {"postgres": types.ServiceConditionHealthy},
		"temporal":           {"temporal-schema": types.ServiceConditionCompletedSuccessfully},
		"temporal-namespace": {"temporal": types.ServiceConditionStarted},
		"temporal-setup":     {"temporal-namespace": types.ServiceConditionCompletedSuccessfully},
		"temporal-ui":        {"temporal-namespace": types.ServiceConditionCompletedSuccessfully},
		"migrate":            {"postgres": types.ServiceConditionHealthy},
		"worker":             {"migrate": types.ServiceConditionCompletedSuccessfully, "temporal-setup": types.ServiceConditionCompletedSuccessfully},
		"web":                {"migrate": types.ServiceConditionCompletedSuccessfully, "temporal-setup": types.ServiceConditionCompletedSuccessfully},
		"watcher":            {"temporal-setup": types.ServiceConditionCompletedSuccessfully},
	}
	for name, deps := range wantDeps {
		s := svc(name)
		for dep, cond := range deps {
			got, ok := s.DependsOn[dep]
			if !ok || got.Condition != cond {
				t.Errorf("%s depends_on %s: condition %q, want %q", name, dep, got.Condition, cond)
			}
		}
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy {
				if hc := svc(dep).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
				}
			}
			if d.Condition == types.ServiceConditionCompletedSuccessfully && svc(dep).Restart != types.RestartPolicyNo {
				t.Errorf("%s waits for one-shot %s, whose restart policy is %q", name, dep, svc(dep).Restart)
			}
		}
	}
	for _, oneShot := range []string{"migrate", "temporal-schema", "temporal-namespace", "temporal-setup"} {
		if r := svc(oneShot).Restart; r != types.RestartPolicyNo {
			t.Errorf("%s is one-shot; restart %q, want no", oneShot, r)
		}
	}
	if got := svc("migrate").Command; !slices.Equal(got, types.ShellCommand{"migrate", "up"}) {
		t.Errorf("migrate command %v, want [migrate up]", got)
	}
	for _, name := range []string{"worker", "web", "watcher"} {
		if got := svc(name).Command; !slices.Equal(got, types.ShellCommand{name}) {
			t.Errorf("%s command %v, want [%s]", name, got, name)
		}
	}
	if got := svc("temporal-setup").Command; !slices.Equal(got, types.ShellCommand{"temporal", "setup"}) {
		t.Errorf("temporal-setup command %v, want [temporal setup] (guildhall temporal setup)", got)
	}
}

// The Guildhall services get the configuration they read; the Temporal address and
// Postgres credentials agree with the services that provide them.
func TestComposeEnvironment(t *testing.T) {
	p := loadCompose(t, composeSrc(t), "watcher")
	pg, _ := p.GetService("postgres")
	temporal, _ := p.GetService("temporal")
	wantDB := fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable",
		*pg.Environment["POSTGRES_USER"], *pg.Environment["POSTGRES_PASSWORD"], *pg.Environment["POSTGRES_DB"])
	if *temporal.Environment["POSTGRES_SEEDS"] != "postgres" || *temporal.Environment["DB"] != "postgres12" {
		t.Errorf("temporal must run on the postgres service (DB=postgres12, POSTGRES_SEEDS=postgres)")
	}
	for _, name := range guildhallServices {
		s, _ := p.GetService(name)
		need := map[string]string{
			"DATABASE_URL":       wantDB,
			"TEMPORAL_ADDRESS":   "temporal:7233",
			"TEMPORAL_NAMESPACE": "default",
			"LOG_FORMAT":         "json",
			"METRICS_ADDR":       ":9090",
			"POOL_SIZE":          "",
		}
		if name == "web" {
			need["SESSION_SECRET"] = ""
			need["GUILDHALL_HOST"] = "http://localhost:4000"
			need["GUILDHALL_ADDR"] = ":4000"
			need["OIDC_ISSUER"], need["OIDC_CLIENT_ID"], need["OIDC_CLIENT_SECRET"] = "", "", ""
			need["OIDC_ROLES_CLAIM"], need["OIDC_ROLE_MAP"] = "", ""
			need["CHRONICLE_INGEST_TOKEN"], need["TRUSTED_PROXIES"], need["GUILDHALL_CLUSTER_MODE"] = "", "", ""
		}
		for k, want := range need {
			v, ok := s.Environment[k]
			switch {
			case !ok || v == nil:
				t.Errorf("%s: %s not set", name, k)
			case want != "" && *v != want:
				t.Errorf("%s: %s=%q, want %q", name, k, *v, want)
			}
		}
	}
	web, _ := p.GetService("web")
	// Cluster mode needs a Kubernetes config, mounted as for the watcher.
	if v := web.Environment["GUILDHALL_CLUSTER_MODE"]; v != nil && *v != "false" {
		kc := web.Environment["KUBECONFIG"]
		if kc == nil || web.Environment["GUILDHALL_CEREMONY_NAMESPACE"] == nil || !slices.ContainsFunc(web.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Target == *kc && v.ReadOnly
		}) {
			t.Errorf("web: GUILDHALL_CLUSTER_MODE=%s without GUILDHALL_CEREMONY_NAMESPACE and a read-only mounted KUBECONFIG", *v)
		}
	}
	if len(*web.Environment["SESSION_SECRET"]) < 32 {
		t.Errorf("web SESSION_SECRET shorter than 32 characters")
	}
	if !slices.ContainsFunc(web.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 4000 && pc.Published == "4000" }) {
		t.Errorf("web does not publish port 4000: %+v", web.Ports)
	}
}

// The search attributes are registered by `guildhall temporal setup` (the code
// the worker, web and watcher check them with, from contract.SearchAttributeTypes)
// in the namespace and on the server the Guildhall services use.
func TestComposeSearchAttributes(t *testing.T) {
	p := loadCompose(t, composeSrc(t), "watcher")
	setup, err := p.GetService("temporal-setup")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker", "web", "watcher"} {
		s, _ := p.GetService(name)
		for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} {
			if setup.Environment[k] == nil || s.Environment[k] == nil || *setup.Environment[k] != *s.Environment[k] {
				t.Errorf("temporal-setup and %s disagree on %s", name, k)
			}
		}
	}
	ns, _ := p.GetService("temporal-namespace")
	if v := ns.Environment["TEMPORAL_NAMESPACE"]; v == nil || *v != *setup.Environment["TEMPORAL_NAMESPACE"] {
		t.Errorf("temporal-namespace creates another namespace than the one temporal-setup sets up")
	}
}

// The checks fail on a broken compose file.
func TestComposeChecksCatchMistakes(t *testing.T) {
	good := string(composeSrc(t))
	for name, bad := range map[string]string{
		"unknown key":          strings.Replace(good, "    restart: unless-stopped\n", "    restart: unless-stopped\n    restartt: always\n", 1),
		"undefined dependency": strings.Replace(good, "      postgres:\n        condition: service_healthy\n    environment:\n      SQL_PLUGIN:", "      postgresql:\n        condition: service_healthy\n    environment:\n      SQL_PLUGIN:", 1),
		"bad condition":        strings.Replace(good, "condition: service_completed_successfully", "condition: service_finished", 1),
	} {
		if bad == good {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := loadComposeErr([]byte(bad)); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}
