package temporalserver

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	yaml "go.yaml.in/yaml/v3"

	"github.com/guildhouse/guildhall/internal/devserver"
	"github.com/guildhouse/guildhall/internal/toolcache"
)

// configTemplate is the server configuration: upstream's
// config/development-postgres12.yaml with both stores on PostgreSQL (SQL
// visibility, no Elasticsearch), loopback ports picked per run, no archival,
// and Prometheus metrics for the benchmark. Four history shards as the
// development configs and the compose file's server (the Helm values use
// more): shards cost CPU even when idle, and the tests never fill one.
var configTemplate = template.Must(template.New("config").Parse(`log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
{{- range $name, $db := .Stores }}
    {{ $name }}:
      sql:
        pluginName: "{{ $.Plugin }}"
        databaseName: "{{ $db }}"
        connectAddr: "{{ $.DBHost }}"
        connectProtocol: "tcp"
        user: {{ printf "%q" $.DBUser }}
        password: {{ printf "%q" $.DBPassword }}
        maxConns: {{ $.MaxConns }}
        maxIdleConns: {{ $.MaxConns }}
        maxConnLifetime: "1h"
{{- end }}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:{{ .MetricsPort }}"
services:
{{- range .Services }}
  {{ .Name }}:
    rpc:
      grpcPort: {{ .GRPC }}
      membershipPort: {{ .Membership }}
      bindOnLocalHost: true
{{- end }}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:{{ .FrontendPort }}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "{{ .DynamicConfigFile }}"
  pollInterval: "10s"
`))

type serviceConfig struct {
	Name             string
	GRPC, Membership int
}

// writeConfig picks the ports and writes config.yaml and dynamicconfig.yaml
// into the server's folder; it returns the path of config.yaml.
func (s *Server) writeConfig(o Options) (string, error) {
	u, err := url.Parse(s.admin)
	if err != nil {
		return "", fmt.Errorf("admin URL: %w", err)
	}
	pw, _ := u.User.Password()
	data := struct {
		Plugin, DBHost, DBUser, DBPassword  string
		Stores                              map[string]string
		Services                            []serviceConfig
		FrontendPort, MetricsPort, MaxConns int
		DynamicConfigFile                   string
	}{Plugin: Plugin, MaxConns: max(o.MaxConns, 2), DBHost: u.Host, DBUser: u.User.Username(), DBPassword: pw,
		Stores:            map[string]string{"default": s.Databases[0], "visibility": s.Databases[1]},
		DynamicConfigFile: filepath.Join(s.dir, "dynamicconfig.yaml")}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		sc := serviceConfig{Name: name}
		if sc.GRPC, err = devserver.FreePort(); err != nil {
			return "", err
		}
		if sc.Membership, err = membershipPort(); err != nil {
			return "", err
		}
		data.Services = append(data.Services, sc)
	}
	data.FrontendPort = data.Services[0].GRPC
	if data.MetricsPort, err = devserver.FreePort(); err != nil {
		return "", err
	}
	s.Address = fmt.Sprintf("127.0.0.1:%d", data.FrontendPort)
	s.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", data.MetricsPort)

	var b strings.Builder
	if err := configTemplate.Execute(&b, data); err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	dc, err := DynamicConfig(o.DynamicConfig)
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(data.DynamicConfigFile, dc, 0o600)
}

// membershipPort returns a free port below 32768: the server stores
// membership ports in a smallint column, and the kernel hands out ephemeral
// ports from 32768 up, so FreePort's would not fit.
func membershipPort() (int, error) {
	for range 200 {
		p := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port between 20000 and 32000 for the server's membership")
}

// BaseDynamicConfig is the deployment's dynamic config file, relative to the
// repository root: the tests' server starts from it, as docker-compose.yml and
// the Helm values do.
const BaseDynamicConfig = "deploy/temporal/dynamicconfig.yaml"

// DynamicConfig is BaseDynamicConfig with values (KEY → VALUE in JSON) set
// over it, each unconstrained.
func DynamicConfig(values map[string]string) ([]byte, error) {
	root, err := toolcache.ModuleRoot()
	if err != nil {
		return nil, err
	}
	base, err := os.ReadFile(filepath.Join(root, BaseDynamicConfig))
	if err != nil {
		return nil, err
	}
	dc := map[string]any{}
	if err := yaml.Unmarshal(base, &dc); err != nil {
		return nil, fmt.Errorf("%s: %w", BaseDynamicConfig, err)
	}
	for k, v := range values {
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			return nil, fmt.Errorf("dynamic config %s=%s: the value must be JSON: %w", k, v, err)
		}
		dc[k] = []map[string]any{{"value": val, "constraints": map[string]any{}}}
	}
	return yaml.Marshal(dc)
}
