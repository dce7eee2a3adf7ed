package deploy

import (
	"bytes"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/guildhouse/guildhall/internal/temporalserver"
)

// helmValues is what deploy/temporal/values.yaml sets; decoding is strict, so a
// misspelt key fails.
type helmValues struct {
	Server struct {
		Image  helmImage `yaml:"image"`
		Config struct {
			Persistence struct {
				DefaultStore     string                   `yaml:"defaultStore"`
				VisibilityStore  string                   `yaml:"visibilityStore"`
				NumHistoryShards int                      `yaml:"numHistoryShards"`
				Datastores       map[string]helmDatastore `yaml:"datastores"`
			} `yaml:"persistence"`
			Namespaces struct {
				Create    bool `yaml:"create"`
				Namespace []struct {
					Name      string `yaml:"name"`
					Retention string `yaml:"retention"`
				} `yaml:"namespace"`
			} `yaml:"namespaces"`
		} `yaml:"config"`
		DynamicConfig map[string]any `yaml:"dynamicConfig"`
	} `yaml:"server"`
	Admintools struct {
		Image helmImage `yaml:"image"`
	} `yaml:"admintools"`
}

type helmImage struct {
	Repository string `yaml:"repository"`
	Tag        string `yaml:"tag"`
}

type helmDatastore struct {
	SQL *struct {
		PluginName      string `yaml:"pluginName"`
		DriverName      string `yaml:"driverName"`
		DatabaseName    string `yaml:"databaseName"`
		ConnectAddr     string `yaml:"connectAddr"`
		ConnectProtocol string `yaml:"connectProtocol"`
		User            string `yaml:"user"`
		ExistingSecret  string `yaml:"existingSecret"`
		SecretKey       string `yaml:"secretKey"`
		CreateDatabase  bool   `yaml:"createDatabase"`
		ManageSchema    bool   `yaml:"manageSchema"`
		MaxConns        int    `yaml:"maxConns"`
		MaxIdleConns    int    `yaml:"maxIdleConns"`
		MaxConnLifetime string `yaml:"maxConnLifetime"`
	} `yaml:"sql"`
}

const helmValuesFile = "deploy/temporal/values.yaml"

func loadHelmValues(t *testing.T) helmValues {
	t.Helper()
	v, err := decodeHelmValues(readRepoFile(t, helmValuesFile))
	if err != nil {
		t.Fatalf("%s: %v", helmValuesFile, err)
	}
	return v
}

// decodeHelmValues decodes a values file strictly: an unknown key is an error.
func decodeHelmValues(data []byte) (helmValues, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var v helmValues
	err := dec.Decode(&v)
	return v, err
}

// testedServerVersion is the go.temporal.io/server version the tests run
// (tools/temporal-server/go.mod), without the v.
func testedServerVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^require go\.temporal\.io/server v(\S+)$`).FindSubmatch(readRepoFile(t, "tools", "temporal-server", "go.mod"))
	if m == nil {
		t.Fatal("tools/temporal-server/go.mod does not require go.temporal.io/server")
	}
	return string(m[1])
}

// baseDynamicConfig is the dynamic config file the tests' server starts from.
func baseDynamicConfig(t *testing.T) map[string]any {
	t.Helper()
	var dc map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, filepath.FromSlash(temporalserver.BaseDynamicConfig)), &dc); err != nil {
		t.Fatal(err)
	}
	if len(dc) == 0 {
		t.Fatalf("%s is empty", temporalserver.BaseDynamicConfig)
	}
	return dc
}

// TestTemporalSetupsAgree: docker-compose.yml, the Helm values and the tests'
// server (internal/temporalserver) run the same Temporal: the same server
// version, PostgreSQL persistence and SQL visibility through the same plugin,
// the same two databases with the server's schemas applied by its SQL tool,
// the same dynamic config, the namespace the Guildhall services use, and the
// search attributes registered by `guildhall temporal setup`.
func TestTemporalSetupsAgree(t *testing.T) {
	version := testedServerVersion(t)
	v := loadHelmValues(t)
	p := loadCompose(t, composeSrc(t), "watcher")
	svc := func(name string) (image string, env map[string]string) {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		env = map[string]string{}
		for k, val := range s.Environment {
			if val != nil {
				env[k] = *val
			}
		}
		return s.Image, env
	}

	// Version.
	if v.Server.Image.Repository != "temporalio/server" || v.Server.Image.Tag != version {
		t.Errorf("Helm server image %+v, want temporalio/server:%s (the tests' server)", v.Server.Image, version)
	}
	if v.Admintools.Image.Repository != "temporalio/admin-tools" || v.Admintools.Image.Tag != version {
		t.Errorf("Helm admintools image %+v, want temporalio/admin-tools:%s", v.Admintools.Image, version)
	}
	for name, want := range map[string]string{"temporal": "temporalio/server:" + version,
		"temporal-schema": "temporalio/admin-tools:" + version, "temporal-namespace": "temporalio/admin-tools:" + version} {
		if img, _ := svc(name); img != want {
			t.Errorf("compose %s image %s, want %s", name, img, want)
		}
	}

	// Stores: both SQL on PostgreSQL through the tests' plugin, no Elasticsearch
	// or Cassandra anywhere.
	per := v.Server.Config.Persistence
	dbs := map[string]string{}
	for role, store := range map[string]string{"persistence": per.DefaultStore, "visibility": per.VisibilityStore} {
		ds, ok := per.Datastores[store]
		if !ok || ds.SQL == nil {
			t.Errorf("Helm %s store %q is not an SQL datastore", role, store)
			continue
		}
		if ds.SQL.PluginName != temporalserver.Plugin || ds.SQL.DriverName != temporalserver.Plugin {
			t.Errorf("Helm %s store: plugin %s driver %s, want %s", role, ds.SQL.PluginName, ds.SQL.DriverName, temporalserver.Plugin)
		}
		if !ds.SQL.CreateDatabase || !ds.SQL.ManageSchema {
			t.Errorf("Helm %s store: createDatabase and manageSchema must be on (the chart's schema job applies the server's schemas)", role)
		}
		if ds.SQL.ExistingSecret == "" || ds.SQL.SecretKey == "" {
			t.Errorf("Helm %s store: the password must come from a Secret", role)
		}
		dbs[role] = ds.SQL.DatabaseName
	}
	if len(per.Datastores) != 2 {
		t.Errorf("Helm datastores %v: want exactly the persistence and visibility stores", len(per.Datastores))
	}
	_, temporalEnv := svc("temporal")
	if temporalEnv["DB"] != temporalserver.Plugin || temporalEnv["POSTGRES_SEEDS"] != "postgres" || temporalEnv["ENABLE_ES"] != "" {
		t.Errorf("compose temporal: DB=%q POSTGRES_SEEDS=%q ENABLE_ES=%q, want %s on the postgres service, no Elasticsearch",
			temporalEnv["DB"], temporalEnv["POSTGRES_SEEDS"], temporalEnv["ENABLE_ES"], temporalserver.Plugin)
	}
	if temporalEnv["DBNAME"] != dbs["persistence"] || temporalEnv["VISIBILITY_DBNAME"] != dbs["visibility"] {
		t.Errorf("compose databases %s/%s, Helm %s/%s", temporalEnv["DBNAME"], temporalEnv["VISIBILITY_DBNAME"], dbs["persistence"], dbs["visibility"])
	}

	// Schemas: the tests' steps, with the server's schema directories, for each database.
	_, schemaEnv := svc("temporal-schema")
	if schemaEnv["SQL_PLUGIN"] != temporalserver.Plugin || schemaEnv["SQL_HOST"] != "postgres" {
		t.Errorf("compose temporal-schema: SQL_PLUGIN=%q SQL_HOST=%q", schemaEnv["SQL_PLUGIN"], schemaEnv["SQL_HOST"])
	}
	ss, _ := p.GetService("temporal-schema")
	script := strings.Join(ss.Command, "\n")
	pairs := dbs["persistence"] + "=" + temporalserver.PersistenceSchema + " " + dbs["visibility"] + "=" + temporalserver.VisibilitySchema
	if !strings.Contains(script, "for db in "+pairs+";") {
		t.Errorf("compose temporal-schema does not loop over %q:\n%s", pairs, script)
	}
	for _, step := range temporalserver.SchemaSteps(`"$schema"`) {
		if line := `temporal-sql-tool --db "$name" ` + strings.Join(step, " "); !strings.Contains(script, line) {
			t.Errorf("compose temporal-schema lacks %q:\n%s", line, script)
		}
	}

	// Dynamic config: the file the tests' server starts from.
	base := baseDynamicConfig(t)
	if !reflect.DeepEqual(v.Server.DynamicConfig, base) {
		t.Errorf("Helm server.dynamicConfig %v, want %s: %v", v.Server.DynamicConfig, temporalserver.BaseDynamicConfig, base)
	}
	ts, _ := p.GetService("temporal")
	mounted := false
	for _, vol := range ts.Volumes {
		rel, err := filepath.Rel(p.WorkingDir, vol.Source)
		mounted = mounted || (err == nil && filepath.ToSlash(rel) == temporalserver.BaseDynamicConfig &&
			vol.Target == temporalEnv["DYNAMIC_CONFIG_FILE_PATH"] && vol.ReadOnly)
	}
	if !mounted {
		t.Errorf("compose temporal does not read %s (read-only at DYNAMIC_CONFIG_FILE_PATH %q)", temporalserver.BaseDynamicConfig, temporalEnv["DYNAMIC_CONFIG_FILE_PATH"])
	}

	// Namespace: the one the cluster's Guildhall services use.
	cfg := findObj[*corev1.ConfigMap](t, loadAll(t), "deploy/k8s/03-config.yaml")
	ns := v.Server.Config.Namespaces
	if !ns.Create || len(ns.Namespace) != 1 || ns.Namespace[0].Name != cfg.Data["TEMPORAL_NAMESPACE"] || ns.Namespace[0].Retention == "" {
		t.Errorf("Helm namespaces %+v, want namespace %q created with a retention", ns, cfg.Data["TEMPORAL_NAMESPACE"])
	}
}

// The Helm check fails on a broken values file.
func TestHelmValuesCheckCatchesMistakes(t *testing.T) {
	good := string(readRepoFile(t, helmValuesFile))
	bad := strings.Replace(good, "            manageSchema: true\n", "            manageSchema: true\n            managedSchema: true\n", 1)
	if bad == good {
		t.Fatal("mutation did not apply")
	}
	if _, err := decodeHelmValues([]byte(good)); err != nil {
		t.Fatalf("the good file: %v", err)
	}
	if _, err := decodeHelmValues([]byte(bad)); err == nil {
		t.Error("a misspelt key decoded without error")
	}
}
