// Package config loads Guildhall's configuration from the environment, once, into
// a typed struct per role (web, worker, watcher, dev, and the command-line tools),
// and checks it before anything starts: a bad value is an error that names the
// variable and what it accepts, and an unknown GUILDHALL_* (or NOTIFY_*, OIDC_*,
// GRAPH_*) variable is reported, so a typo is not silently ignored.
//
// The struct tags are the single list of settings:
//
//	env:"NAME"        the variable (alt:"OTHER" names an older spelling read when NAME is unset)
//	default:"value"   used when the variable is unset or empty
//	oneof:"a,b"       the accepted values
//	secret:"true"     never printed; secret:"url" prints the URL with its password masked
//	doc:"…"           one line for `guildhall config`
//
// ARCHITECTURE.md's configuration table is checked against these structs by a test.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/rules"
)

// Logging is shared by every role.
type Logging struct {
	// LogFormat: the servers default to json, dev and the tools to text.
	LogFormat string `env:"LOG_FORMAT" oneof:"json,text" doc:"log encoding on stderr"`
}

// Database is the Ops DB connection.
type Database struct {
	URL      string `env:"DATABASE_URL" secret:"url" doc:"Ops DB: postgres://… or sqlite:FILE; empty: embedded SQLite at .data/guildhall.db"`
	PoolSize int    `env:"POOL_SIZE" default:"10" doc:"Ops DB connections per process"`
}

// Temporal is the Temporal frontend the process talks to.
type Temporal struct {
	Address   string `env:"TEMPORAL_ADDRESS" default:"127.0.0.1:7233" doc:"Temporal frontend host:port"`
	Namespace string `env:"TEMPORAL_NAMESPACE" default:"default" doc:"Temporal namespace of the ceremonies"`
}

// Metrics is the /metrics and /healthz listener of the servers.
type Metrics struct {
	MetricsAddr string `env:"METRICS_ADDR" default:":9090" doc:"/metrics and /healthz listen address"`
}

// Notify configures where the worker sends notifications.
type Notify struct {
	SMTPAddr      string `env:"NOTIFY_SMTP_ADDR" doc:"SMTP server host:port; enables e-mail"`
	SMTPFrom      string `env:"NOTIFY_SMTP_FROM" default:"guildhall@localhost" doc:"sender address"`
	SMTPUsername  string `env:"NOTIFY_SMTP_USERNAME" doc:"SMTP PLAIN auth user (needs TLS or loopback)"`
	SMTPPassword  string `env:"NOTIFY_SMTP_PASSWORD" secret:"true" doc:"SMTP PLAIN auth password"`
	WebhookURL    string `env:"NOTIFY_WEBHOOK_URL" secret:"true" doc:"POST notifications here; enables the webhook"`
	WebhookFormat string `env:"NOTIFY_WEBHOOK_FORMAT" default:"json" oneof:"json,slack" doc:"webhook body: the full message or Slack's {\"text\": …}"`
}

// Graph configures the Graph bridge: sealed releases with an Intune target are
// carried out as Intune app assignments through Microsoft Graph. It is off
// unless GRAPH_TENANT_ID is set (deployments then wait, pending).
type Graph struct {
	TenantID       string `env:"GRAPH_TENANT_ID" doc:"Entra directory (tenant) id or verified domain of the Intune tenant; empty: the Graph bridge is off"`
	ClientID       string `env:"GRAPH_CLIENT_ID" doc:"application (client) id of the app registration (permission DeviceManagementApps.ReadWrite.All)"`
	ClientSecret   string `env:"GRAPH_CLIENT_SECRET" secret:"true" doc:"client secret value; or a certificate:"`
	Certificate    string `env:"GRAPH_CLIENT_CERTIFICATE" doc:"PEM file: the certificate uploaded to the app registration (may hold the key too)"`
	CertificateKey string `env:"GRAPH_CLIENT_CERTIFICATE_KEY" doc:"PEM file: the certificate's unencrypted RSA key; empty: the certificate file"`
	AuthorityURL   string `env:"GRAPH_AUTHORITY_URL" default:"https://login.microsoftonline.com" doc:"token authority (national clouds differ)"`
	BaseURL        string `env:"GRAPH_BASE_URL" default:"https://graph.microsoft.com/v1.0" doc:"Microsoft Graph endpoint"`
	Scope          string `env:"GRAPH_SCOPE" default:"https://graph.microsoft.com/.default" doc:"token scope: the Graph endpoint's host and /.default"`
	DriftInterval  string `env:"GRAPH_DRIFT_INTERVAL" default:"1h" doc:"how often the drift check (Temporal Schedule intune-drift) compares sealed targets with Intune"`
}

// Enabled reports whether the Graph bridge is configured.
func (g Graph) Enabled() bool { return g.TenantID != "" }

// Drift is the drift check's interval (checked by check).
func (g Graph) Drift() time.Duration {
	d, _ := time.ParseDuration(g.DriftInterval)
	return d
}

func (g *Graph) check() error {
	var errs []error
	if d, err := time.ParseDuration(g.DriftInterval); err != nil || d < time.Minute || d > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("GRAPH_DRIFT_INTERVAL=%q: want a duration between 1m and 168h, e.g. 1h", g.DriftInterval))
	}
	if !g.Enabled() {
		if g.ClientID != "" || g.ClientSecret != "" || g.Certificate != "" {
			errs = append(errs, errors.New("GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET or GRAPH_CLIENT_CERTIFICATE is set but GRAPH_TENANT_ID is not: set the tenant to turn the Graph bridge on, or unset them"))
		}
		return errors.Join(errs...)
	}
	if g.ClientID == "" {
		errs = append(errs, errors.New("GRAPH_TENANT_ID is set: GRAPH_CLIENT_ID must be too (the app registration's application id)"))
	}
	switch {
	case g.ClientSecret == "" && g.Certificate == "":
		errs = append(errs, errors.New("GRAPH_TENANT_ID is set: set GRAPH_CLIENT_SECRET, or GRAPH_CLIENT_CERTIFICATE (and GRAPH_CLIENT_CERTIFICATE_KEY)"))
	case g.ClientSecret != "" && g.Certificate != "":
		errs = append(errs, errors.New("GRAPH_CLIENT_SECRET and GRAPH_CLIENT_CERTIFICATE are both set: use one credential"))
	}
	if g.CertificateKey != "" && g.Certificate == "" {
		errs = append(errs, errors.New("GRAPH_CLIENT_CERTIFICATE_KEY is set without GRAPH_CLIENT_CERTIFICATE"))
	}
	return errors.Join(errs...)
}

// OIDC is the login through the organisation's identity provider.
type OIDC struct {
	Issuer       string `env:"OIDC_ISSUER" doc:"issuer URL; empty: OIDC off"`
	ClientID     string `env:"OIDC_CLIENT_ID" doc:"client id registered at the provider"`
	ClientSecret string `env:"OIDC_CLIENT_SECRET" secret:"true" doc:"client secret"`
	// RolesClaim and RoleMap turn the identity provider's groups into roles:
	// a person whose claim holds a mapped value is provisioned at first login
	// and their provider roles re-synced at every login.
	RolesClaim string   `env:"OIDC_ROLES_CLAIM" default:"groups" doc:"ID token claim holding the person's groups: a list or one string; a.b for a nested claim"`
	RoleMap    []string `env:"OIDC_ROLE_MAP" doc:"claim value=role pairs, comma-separated, e.g. /guildhouse/security=security,/guildhouse/admins=admin"`
}

// Roles parses OIDC_ROLE_MAP: claim value → roles (one value may map to
// several). Split at the last "=", since a group path may hold one and a role
// cannot.
func (o OIDC) Roles() (map[string][]string, error) {
	m := map[string][]string{}
	var errs []error
	for _, pair := range o.RoleMap {
		i := strings.LastIndex(pair, "=")
		if i < 0 {
			errs = append(errs, fmt.Errorf("OIDC_ROLE_MAP: %q is not claim-value=role, e.g. /guildhouse/security=security", pair))
			continue
		}
		value, role := strings.TrimSpace(pair[:i]), strings.TrimSpace(pair[i+1:])
		if value == "" {
			errs = append(errs, fmt.Errorf("OIDC_ROLE_MAP: %q has no claim value before the =", pair))
			continue
		}
		if err := rules.RoleOK(role); err != nil {
			errs = append(errs, fmt.Errorf("OIDC_ROLE_MAP: in %q, %w", pair, err))
			continue
		}
		if !slices.Contains(m[value], role) {
			m[value] = append(m[value], role)
		}
	}
	return m, errors.Join(errs...)
}

// Enabled reports whether OIDC login is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Kube is how the process reaches the Kubernetes API.
type Kube struct {
	Kubeconfig string `env:"KUBECONFIG" doc:"kubeconfig file; empty: the pod's service account"`
}

// Server is what every long-running role shares.
type Server struct {
	Logging
	Temporal
	Metrics
}

// Web configures `guildhall web`.
type Web struct {
	Server
	Database
	OIDC
	Kube
	Addr              string   `env:"GUILDHALL_ADDR" default:":4000" doc:"web listen address"`
	Host              string   `env:"GUILDHALL_HOST" default:"http://localhost:4000" doc:"public base URL (links, cookies, WebAuthn relying party)"`
	SessionSecret     string   `env:"SESSION_SECRET" alt:"SECRET_KEY_BASE" secret:"true" doc:"signs sessions and API tokens; at least 32 characters"`
	IngestToken       string   `env:"CHRONICLE_INGEST_TOKEN" secret:"true" doc:"bearer token of POST /api/v1/chronicle; empty refuses all ingest"`
	TrustedProxies    []string `env:"TRUSTED_PROXIES" doc:"CIDRs whose X-Forwarded-For is believed; empty: the TCP peer is the client"`
	ClusterMode       bool     `env:"GUILDHALL_CLUSTER_MODE" default:"false" doc:"the composer creates Ceremony resources instead of starting workflows"`
	CeremonyNamespace string   `env:"GUILDHALL_CEREMONY_NAMESPACE" doc:"namespace of the Ceremonies the composer creates (cluster mode)"`
}

// Worker configures `guildhall worker`.
type Worker struct {
	Server
	Database
	Notify
	Graph
	Host              string `env:"GUILDHALL_HOST" default:"http://localhost:4000" doc:"base URL for links in notifications"`
	WorkflowCacheSize int    `env:"WORKFLOW_CACHE_SIZE" default:"0" doc:"ceremonies kept loaded between messages; 0: the SDK default (10,000)"`
}

// Watcher configures `guildhall watcher`.
type Watcher struct {
	Server
	Kube
	Namespaces     []string `env:"WATCH_NAMESPACES" doc:"namespaces whose Ceremonies are watched; empty: all"`
	LeaseNamespace string   `env:"POD_NAMESPACE" default:"guildhall" doc:"namespace of the leader Lease (the pod's, from the downward API)"`
	Identity       string   `env:"POD_NAME" doc:"this replica's name in the Lease; empty: the host name"`
}

// Dev configures `guildhall dev`: the web app and the worker in one process.
type Dev struct {
	Logging
	Temporal
	Database
	Notify
	Graph
	Addr              string `env:"GUILDHALL_ADDR" default:"127.0.0.1:4000" doc:"web listen address"`
	Host              string `env:"GUILDHALL_HOST" doc:"public base URL; empty: http://localhost:<port of GUILDHALL_ADDR>"`
	WorkflowCacheSize int    `env:"WORKFLOW_CACHE_SIZE" default:"0" doc:"ceremonies kept loaded between messages; 0: the SDK default"`
}

// Tool configures the command-line tools (migrate, seed, verify, evidence, sign,
// witness, chronicle, temporal): the Ops DB and Temporal, logging as text.
type Tool struct {
	Logging
	Temporal
	Database
}

// Probe configures `guildhall healthcheck`, the container health check: it finds
// the local web or metrics listener from the same variables the servers read.
type Probe struct {
	Metrics
	Addr string `env:"GUILDHALL_ADDR" default:":4000" doc:"web listen address"`
}

// Roles names the roles in the order `guildhall config` lists them.
var Roles = []string{"web", "worker", "watcher", "dev", "tools", "healthcheck"}

// New returns an empty configuration struct for role, with the role's own
// defaults that the tags cannot carry (the log format).
func New(role string) (any, error) {
	switch role {
	case "web":
		return &Web{Server: Server{Logging: Logging{LogFormat: "json"}}}, nil
	case "worker":
		return &Worker{Server: Server{Logging: Logging{LogFormat: "json"}}}, nil
	case "watcher":
		return &Watcher{Server: Server{Logging: Logging{LogFormat: "json"}}}, nil
	case "dev":
		return &Dev{Logging: Logging{LogFormat: "text"}}, nil
	case "tools":
		return &Tool{Logging: Logging{LogFormat: "text"}}, nil
	case "healthcheck":
		return &Probe{}, nil
	}
	return nil, fmt.Errorf("unknown role %q: want one of %s", role, strings.Join(Roles, ", "))
}

// LoadWeb reads and checks the web's configuration from the process environment.
func LoadWeb() (Web, error) { return load[Web]("web", os.LookupEnv) }

// LoadWorker reads and checks the worker's configuration.
func LoadWorker() (Worker, error) { return load[Worker]("worker", os.LookupEnv) }

// LoadWatcher reads and checks the watcher's configuration.
func LoadWatcher() (Watcher, error) { return load[Watcher]("watcher", os.LookupEnv) }

// LoadDev reads and checks the dev role's configuration.
func LoadDev() (Dev, error) { return load[Dev]("dev", os.LookupEnv) }

// LoadTool reads and checks the tools' configuration.
func LoadTool() (Tool, error) { return load[Tool]("tools", os.LookupEnv) }

// LoadProbe reads and checks the health check's configuration.
func LoadProbe() (Probe, error) { return load[Probe]("healthcheck", os.LookupEnv) }

func load[T any](role string, lookup LookupFunc) (T, error) {
	v, err := Inspect(role, lookup)
	if err != nil {
		var zero T
		return zero, err
	}
	return *v.(*T), nil
}

// Inspect loads role's configuration from lookup and checks it. It returns the
// configuration even when it has problems (for `guildhall config`), with every
// problem joined in the error; the rules that span variables are checked only
// once each variable parses.
func Inspect(role string, lookup LookupFunc) (any, error) {
	v, err := New(role)
	if err != nil {
		return nil, err
	}
	if err := Fill(v, lookup); err != nil {
		return v, err
	}
	if c, ok := v.(interface{ check() error }); ok {
		return v, c.check()
	}
	return v, nil
}

// LookupFunc is os.LookupEnv's shape; tests pass a map's.
type LookupFunc func(string) (string, bool)

// check holds the rules that span variables or need parsing beyond the tags.
func (w *Web) check() error {
	var errs []error
	if len(w.SessionSecret) < 32 {
		errs = append(errs, errors.New("SESSION_SECRET (or SECRET_KEY_BASE) must be set to at least 32 random characters (for example: openssl rand -hex 32)"))
	}
	errs = append(errs, checkBaseURL(w.Host), checkTCPAddr("GUILDHALL_ADDR", w.Addr), w.Server.check(), w.Database.check())
	if w.OIDC.Issuer != "" || w.OIDC.ClientID != "" || w.OIDC.ClientSecret != "" {
		if w.OIDC.Issuer == "" || w.OIDC.ClientID == "" || w.OIDC.ClientSecret == "" {
			errs = append(errs, errors.New("OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together: set all three, or none to turn OIDC login off"))
		} else if u, err := url.Parse(w.OIDC.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("OIDC_ISSUER=%q: want the issuer's URL, e.g. https://keycloak.example/realms/guildhouse", w.OIDC.Issuer))
		}
	}
	if _, err := w.OIDC.Roles(); err != nil {
		errs = append(errs, err)
	}
	if len(w.OIDC.RoleMap) > 0 && w.OIDC.Issuer == "" {
		errs = append(errs, errors.New("OIDC_ROLE_MAP is set but OIDC is off: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too"))
	}
	for _, p := range w.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8", p))
		}
	}
	if w.ClusterMode && !rules.NamespaceOK(w.CeremonyNamespace) {
		errs = append(errs, fmt.Errorf("GUILDHALL_CLUSTER_MODE=true needs GUILDHALL_CEREMONY_NAMESPACE, the namespace the composer creates Ceremonies in (got %q: want a lowercase DNS label)", w.CeremonyNamespace))
	}
	return errors.Join(errs...)
}

func (w *Worker) check() error {
	return errors.Join(checkBaseURL(w.Host), w.Server.check(), w.Database.check(), w.Notify.check(), w.Graph.check(), checkMin("WORKFLOW_CACHE_SIZE", w.WorkflowCacheSize, 0))
}

func (w *Watcher) check() error { return w.Server.check() }

func (d *Dev) check() error {
	errs := []error{checkTCPAddr("GUILDHALL_ADDR", d.Addr), d.Database.check(), d.Notify.check(), d.Graph.check(), checkMin("WORKFLOW_CACHE_SIZE", d.WorkflowCacheSize, 0)}
	if d.Host != "" {
		errs = append(errs, checkBaseURL(d.Host))
	}
	return errors.Join(errs...)
}

func (t *Tool) check() error { return t.Database.check() }

func (p *Probe) check() error {
	return errors.Join(checkTCPAddr("GUILDHALL_ADDR", p.Addr), checkTCPAddr("METRICS_ADDR", p.MetricsAddr))
}

// Log returns the logging settings; every role but the health check has them.
func (l Logging) Log() Logging { return l }

func (s *Server) check() error { return checkTCPAddr("METRICS_ADDR", s.MetricsAddr) }

func (d *Database) check() error {
	err := checkMin("POOL_SIZE", d.PoolSize, 1)
	if d.URL == "" {
		return err
	}
	scheme, _, _ := strings.Cut(d.URL, ":")
	switch scheme {
	case "postgres", "postgresql", "sqlite", "file":
		return err
	}
	return errors.Join(err, fmt.Errorf("DATABASE_URL: scheme %q is not postgres://, postgresql:// or sqlite:", scheme))
}

func (n *Notify) check() error {
	var errs []error
	if n.SMTPAddr != "" {
		errs = append(errs, checkTCPAddr("NOTIFY_SMTP_ADDR", n.SMTPAddr))
	}
	if n.WebhookURL != "" {
		if u, err := url.Parse(n.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("NOTIFY_WEBHOOK_URL: want an http:// or https:// URL"))
		}
	}
	return errors.Join(errs...)
}

func checkBaseURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("GUILDHALL_HOST=%q: want the public base URL with no path, e.g. https://guildhall.example.org", v)
	}
	return nil
}

func checkTCPAddr(name, v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%s=%q: want host:port or :port, e.g. :4000", name, v)
	}
	return nil
}

func checkMin(name string, v, min int) error {
	if v < min {
		return fmt.Errorf("%s=%d: want a whole number of at least %d", name, v, min)
	}
	return nil
}
