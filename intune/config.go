package intune

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/rules"
)

// The settings this package needs, by the environment variable that carries
// each (the names appear in errors, so a person knows what to fix).
const (
	SettingTenantID       = "GRAPH_TENANT_ID"
	SettingClientID       = "GRAPH_CLIENT_ID"
	SettingClientSecret   = "GRAPH_CLIENT_SECRET"
	SettingCertificate    = "GRAPH_CLIENT_CERTIFICATE"
	SettingCertificateKey = "GRAPH_CLIENT_CERTIFICATE_KEY"
	SettingAuthorityURL   = "GRAPH_AUTHORITY_URL"
	SettingBaseURL        = "GRAPH_BASE_URL"
	SettingScope          = "GRAPH_SCOPE"
)

// Defaults for the global Microsoft cloud.
const (
	DefaultAuthorityURL = "https://login.microsoftonline.com"
	DefaultBaseURL      = "https://graph.microsoft.com/v1.0"
	DefaultScope        = "https://graph.microsoft.com/.default"
)

// Config configures a Client. TenantID, ClientID and exactly one of
// ClientSecret and Certificate are required; the rest have defaults.
type Config struct {
	TenantID     string // GRAPH_TENANT_ID: directory (tenant) id or verified domain
	ClientID     string // GRAPH_CLIENT_ID: application (client) id of the app registration
	ClientSecret string // GRAPH_CLIENT_SECRET
	Certificate  *Certificate

	AuthorityURL string // GRAPH_AUTHORITY_URL, default DefaultAuthorityURL (national clouds differ)
	BaseURL      string // GRAPH_BASE_URL, default DefaultBaseURL
	Scope        string // GRAPH_SCOPE, default DefaultScope

	// HTTPClient sends every request (its Timeout should be 0: RequestTimeout
	// bounds each attempt). Default: a client with http.DefaultTransport.
	HTTPClient *http.Client
	// RequestTimeout bounds one HTTP exchange, token or Graph. Default 30 s.
	RequestTimeout time.Duration
	// MaxAttempts bounds tries per Graph call (throttling, outages). Default 5.
	MaxAttempts int
	// MaxWait is the longest single wait inside a call; a longer Retry-After is
	// handed to the caller (Error.RetryAfter) instead. Default 2 min.
	MaxWait time.Duration
	// BaseBackoff and MaxBackoff shape the wait when the server names none.
	// Defaults 1 s and 30 s.
	BaseBackoff, MaxBackoff time.Duration

	// Now and Sleep are the clock (tests replace them). Defaults time.Now and a
	// context-aware sleep.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	Log *slog.Logger
}

// New checks cfg and returns a Client. It does not contact anything.
func New(cfg Config) (*Client, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	c := &Client{
		cfg:       cfg,
		http:      cfg.HTTPClient,
		tokenURL:  strings.TrimRight(cfg.AuthorityURL, "/") + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token",
		base:      base,
		log:       cfg.Log,
		tokenLock: make(chan struct{}, 1),
	}
	return c, nil
}

func checkConfig(cfg *Config) error {
	cfg.TenantID, cfg.ClientID = strings.TrimSpace(cfg.TenantID), strings.TrimSpace(cfg.ClientID)
	switch strings.ToLower(cfg.TenantID) {
	case "":
		return configError(SettingTenantID, "is empty: give the directory (tenant) id of the tenant where Intune runs")
	case "common", "organizations", "consumers":
		return configError(SettingTenantID, "is %q: the client credentials grant needs the tenant's own id or domain", cfg.TenantID)
	}
	if !rules.IsGUID(cfg.TenantID) && !isDomain(cfg.TenantID) {
		return configError(SettingTenantID, "%q is neither a tenant id (GUID) nor a domain", cfg.TenantID)
	}
	if !rules.IsGUID(cfg.ClientID) {
		return configError(SettingClientID, "%q is not an application (client) id (a GUID)", cfg.ClientID)
	}
	switch {
	case cfg.ClientSecret == "" && cfg.Certificate == nil:
		return configError(SettingClientSecret, "set %s or %s (with %s)", SettingClientSecret, SettingCertificate, SettingCertificateKey)
	case cfg.ClientSecret != "" && cfg.Certificate != nil:
		return configError(SettingClientSecret, "set %s or %s, not both", SettingClientSecret, SettingCertificate)
	case cfg.Certificate != nil && (cfg.Certificate.Leaf == nil || cfg.Certificate.Key == nil):
		return configError(SettingCertificate, "the certificate or its key is missing")
	}
	for _, u := range []struct {
		v       *string
		def     string
		setting string
	}{{&cfg.AuthorityURL, DefaultAuthorityURL, SettingAuthorityURL}, {&cfg.BaseURL, DefaultBaseURL, SettingBaseURL}} {
		if *u.v == "" {
			*u.v = u.def
		}
		p, err := url.Parse(*u.v)
		if err != nil || p.Scheme != "https" || p.Host == "" || p.RawQuery != "" {
			return configError(u.setting, "%q is not an https URL", *u.v)
		}
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Minute
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

func isDomain(s string) bool {
	if !strings.Contains(s, ".") || strings.ContainsAny(s, "/?#@: ") {
		return false
	}
	return !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}
