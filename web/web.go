// Package web is the witness web app: chi routes, templ pages, sessions, OIDC and
// development logins, passkey signing, the JSON API and live updates. It reads
// lists from the Ops DB (never one workflow query per row) and talks to ceremony
// workflows only through the typed client. See README.md for routes and the API.
//
// Wiring (cmd/guildhall):
//
//	m := web.NewMetrics() // prometheus.Collector; register it
//	app, err := web.New(web.Config{
//		BaseURL:       "http://localhost:4000",            // GUILDHALL_HOST
//		SessionSecret: []byte(os.Getenv("SESSION_SECRET")), // >= 32 bytes
//		DevLogin:      true,                                // ONLY under `guildhall dev`; refused on non-loopback hosts
//		OIDC:          &web.OIDCConfig{Issuer: iss, ClientID: id, ClientSecret: secret}, // or nil
//	}, web.Deps{Store: st, Ceremonies: ceremonyclient.New(tc), Logger: log, Metrics: m})
//	srv := web.NewServer(":4000", app) // live streams end on srv.Shutdown
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// Store is what the web reads from (and the little it writes to) the Ops DB.
// *store.Store satisfies it.
type Store interface {
	Ping(ctx context.Context) error
	ListCeremonies(ctx context.Context, f store.CeremonyFilter) ([]store.Ceremony, int, error)
	CountByStatus(ctx context.Context) (map[string]int, error)
	GetCeremony(ctx context.Context, id string) (store.Ceremony, error)
	Signatures(ctx context.Context, ceremonyID string) ([]store.Signature, error)
	CeremonyCustody(ctx context.Context, ceremonyID string) ([]store.CustodyEvent, error)
	GetWitness(ctx context.Context, id string) (store.Witness, error)
	ListWitnesses(ctx context.Context) ([]store.Witness, error)
	RecordSignCount(ctx context.Context, witnessID, keyID string, n uint32) error
	AddCredential(ctx context.Context, witnessID string, c store.Credential) error
	RemoveCredential(ctx context.Context, witnessID, keyID, by string) error
	OverdueCeremonies(ctx context.Context, now time.Time, limit int) ([]store.Ceremony, int, error)
	RecentlyClosed(ctx context.Context, statuses []string, limit int) ([]store.Ceremony, error)
	CeremoniesChangedSince(ctx context.Context, since time.Time, limit int) ([]store.CeremonyChange, error)
	ChainHead(ctx context.Context) (store.CustodyEvent, error)
	CustodyAfter(ctx context.Context, afterSeq int64, limit int) ([]store.CustodyEvent, error)
	ListCustody(ctx context.Context, f store.CustodyFilter) ([]store.CustodyEvent, error)
	ListArtifacts(ctx context.Context, limit, offset int) ([]store.Artifact, int, error)
	GetArtifact(ctx context.Context, digest string) (store.Artifact, error)
	ArtifactCustody(ctx context.Context, digest string, limit int) ([]store.CustodyEvent, error)
	CeremoniesOfArtifact(ctx context.Context, digest string, limit int) ([]store.Ceremony, error)
	CeremoniesOpenedSince(ctx context.Context, since time.Time, limit int) ([]store.Ceremony, error)
	QuorumTimes(ctx context.Context, since time.Time, limit int) ([]store.QuorumTime, error)
	ListTemplates(ctx context.Context) ([]store.TemplateRow, error)
	GetTemplate(ctx context.Context, name string, version int) (store.TemplateRow, error)
	SyncIdentity(ctx context.Context, id store.Identity, idpRoles []string, provision bool) (store.Witness, error)
	AdminStore
	SessionStore
	KeyStore
	IntuneDeploymentsOf(ctx context.Context, digest string) ([]store.IntuneDeployment, error)
	IntuneAttention(ctx context.Context, minAttempts, limit int) ([]store.IntuneDeployment, error)
}

// Ceremonies is the workflow side: *ceremonyclient.Client satisfies it.
type Ceremonies interface {
	Open(ctx context.Context, spec contract.Spec) (runID string, err error)
	Sign(ctx context.Context, ceremonyID string, req contract.SignRequest) (contract.State, error)
	Status(ctx context.Context, ceremonyID string) (contract.State, error)
	Signal(ctx context.Context, ceremonyID, name string, payload any) error
}

// Config is the web app's configuration.
type Config struct {
	// BaseURL is the public base URL (GUILDHALL_HOST), e.g. http://localhost:4000.
	// Cookies are Secure and HSTS is sent when it is https.
	BaseURL string
	// SessionSecret signs session cookies; at least 32 bytes.
	SessionSecret []byte
	// DevLogin enables the pick-a-witness login. DEVELOPMENT ONLY: anyone reaching
	// the app can act as any witness. New refuses it unless BaseURL is a loopback
	// host, so a misconfigured deployment fails to start instead of opening up.
	DevLogin bool
	// OIDC enables login through the organisation's identity provider; nil = off.
	OIDC *OIDCConfig
	// Namespace is the namespace part of ceremony ids opened from the composer
	// ("web" by default): ids are "<namespace>/<name>".
	Namespace string
	// TrustedProxies are CIDRs of proxies whose X-Forwarded-For is believed for
	// the client address (rate limits); empty means the TCP peer is the client.
	TrustedProxies []string
	// IngestToken is the bearer token the Chronicle collector presents at
	// POST /api/v1/chronicle (CHRONICLE_INGEST_TOKEN); empty refuses all ingest.
	IngestToken string
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Deps are the app's collaborators.
type Deps struct {
	Store      Store
	Ceremonies Ceremonies
	Logger     *slog.Logger
	// Metrics counts requests by route pattern; optional (see NewMetrics).
	Metrics *Metrics
	// Evidence serves a ceremony's evidence bundle at
	// GET /ceremonies/{ns}/{name}/evidence (logged-in users); optional. The
	// detail page links to it when set.
	Evidence http.Handler
	// ChronicleIngest receives Chronicle events at POST /api/v1/chronicle, behind
	// the ingest bearer token (Config.IngestToken); optional (501 without it).
	ChronicleIngest http.Handler
	// Cluster, when set, makes the composer create a Ceremony resource in the
	// cluster (the watcher then starts the workflow) instead of starting the
	// workflow itself.
	Cluster CeremonyCreator
	// Intune lets an admin carry an artifact's Intune decision out again from
	// its page (the Graph bridge); optional.
	Intune IntuneJobs
}

// CeremonyCreator creates a Ceremony resource from a spec (cluster mode).
type CeremonyCreator interface {
	CreateCeremony(ctx context.Context, spec contract.Spec) error
}

// App is the web app. It is an http.Handler; Shutdown ends live streams so
// http.Server.Shutdown does not wait for them.
type App struct {
	cfg      Config
	store    Store
	cer      Ceremonies
	log      *slog.Logger
	metrics  *Metrics
	secure   bool
	cookies  *cookieCodec
	router   http.Handler
	closing  chan struct{}
	chain    chainWatch
	hub      hub
	counts   countCache
	changes  changeSource
	webauthn *webauthn.WebAuthn
	oidc     *oidcLogin
	evidence http.Handler
	ingest   http.Handler
	cluster  CeremonyCreator
	intune   IntuneJobs
	voucher  *webVoucher
	// opens limits the ceremonies a person opens; failed opens do not count
	// (ratelimit.go).
	opens *successLimiter
	// signs limits a person's signing requests, the page's and the API's
	// together: one limiter, so one budget.
	signs func(http.Handler) http.Handler
	// streamMaxAge bounds one live stream's life (see live.go).
	streamMaxAge time.Duration
}

// New builds the web app.
func New(cfg Config, deps Deps) (*App, error) {
	if deps.Store == nil || deps.Ceremonies == nil {
		return nil, errors.New("web: Deps.Store and Deps.Ceremonies are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://localhost:4000"
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("web: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if len(cfg.SessionSecret) < 32 {
		return nil, errors.New("web: the session secret must be at least 32 bytes (set SESSION_SECRET)")
	}
	if cfg.DevLogin && !isLoopback(base.Hostname()) {
		return nil, fmt.Errorf("web: the development login is only allowed on a loopback host, not %q; configure OIDC instead", base.Hostname())
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "web"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{
		cfg: cfg, store: deps.Store, cer: deps.Ceremonies, log: deps.Logger, metrics: deps.Metrics,
		secure:   base.Scheme == "https",
		cookies:  newCookieCodec(cfg.SessionSecret),
		closing:  make(chan struct{}),
		changes:  deps.Store,
		evidence: deps.Evidence, ingest: deps.ChronicleIngest, cluster: deps.Cluster, intune: deps.Intune,
		streamMaxAge: streamMaxAge,
	}
	if net.ParseIP(base.Hostname()) != nil {
		// A WebAuthn relying party must be a domain name: passkeys stay off.
		a.log.Warn("passkeys are off: the base URL's host is an IP address; use a host name such as localhost", "base_url", cfg.BaseURL)
	} else if a.webauthn, err = newWebAuthn(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("web: passkeys: %w", err)
	}
	if cfg.OIDC != nil {
		if cfg.OIDC.Issuer == "" || cfg.OIDC.ClientID == "" {
			return nil, errors.New("web: OIDC needs an issuer and a client id (OIDC_ISSUER, OIDC_CLIENT_ID)")
		}
		a.oidc = newOIDCLogin(*cfg.OIDC, cfg.BaseURL)
	}
	if a.voucher, err = newWebVoucher(cfg.SessionSecret); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.registerVouchingKey(rctx); err != nil {
		if msg, retired := retiredKeyMessage(err); retired {
			// Fatal: this replica still holds the rotated-away secret.
			return nil, errors.New(msg)
		}
		// Not fatal: it is tried again before the first signature needs it.
		a.log.Warn("web vouching key not registered yet", "err", err)
	}
	a.router = a.routes()
	return a, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeHTTP implements http.Handler.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// Shutdown ends open live-update streams; register it with
// http.Server.RegisterOnShutdown (NewServer does).
func (a *App) Shutdown() {
	select {
	case <-a.closing:
	default:
		close(a.closing)
	}
}

// NewServer returns an http.Server for the app with timeouts that suit it.
// Live streams clear their own write deadline, so WriteTimeout does not cut them.
func NewServer(addr string, app *App) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	srv.RegisterOnShutdown(app.Shutdown)
	return srv
}

func (a *App) routes() http.Handler {
	r := chi.NewRouter()
	a.opens = a.newSuccessLimiter(openLimit, keyByActor)
	a.signs = a.limiter(signLimit, keyByActor)
	r.Use(a.metrics.middleware, a.recoverer, a.securityHeaders, a.clientIP(), middleware.GetHead)
	r.Get("/health", a.health)
	r.Get("/static/{file}", serveAsset)
	r.Get("/favicon.ico", serveFavicon)

	// JSON API: bearer tokens only (no cookies), problem+json errors.
	r.Route("/api/v1", a.apiRoutes)

	// Browser routes: cross-origin state changes are refused.
	r.Group(func(r chi.Router) {
		r.Use(a.crossOrigin, a.limitBody(64<<10), a.loadSession)
		r.Get("/login", a.loginPage)
		r.With(a.loginLimiter()).Group(func(r chi.Router) {
			r.Post("/login/dev", a.devLogin)
			r.Get("/login/oidc", a.oidcStart)
			r.Get("/login/oidc/callback", a.oidcCallbackHandler)
		})
		r.Post("/logout", a.logout)

		r.Group(func(r chi.Router) {
			r.Use(a.requireLogin, a.requireReader)
			r.Get("/", a.dashboard)
			r.Get("/ceremonies", a.ceremonyList)
			r.Get("/ceremonies/new", a.composer)
			r.Post("/ceremonies/new", a.composeSubmit)
			r.Get("/ceremonies/{ns}/{name}", a.ceremonyDetail)
			r.Get("/ceremonies/{ns}/{name}/events", a.ceremonyEvents)
			r.With(a.signs).Group(func(r chi.Router) {
				r.Post("/ceremonies/{ns}/{name}/review", a.signReview)
				r.Post("/ceremonies/{ns}/{name}/sign", a.signConfirm)
				r.Post("/ceremonies/{ns}/{name}/sign/passkey", a.signPasskey)
			})
			r.Post("/ceremonies/{ns}/{name}/withdraw", a.withdrawForm)
			if a.evidence != nil {
				r.Get("/ceremonies/{ns}/{name}/evidence", a.evidence.ServeHTTP)
			}
			r.Get("/events", a.listEvents)
			r.Get("/artifacts", a.artifactList)
			r.Get("/artifacts/{digest}", a.artifactDetail)
			r.With(a.requireAdmin).Post("/artifacts/{digest}/intune/apply", a.intuneReapply)
			r.Get("/chronicle", a.chronicle)
			r.Get("/posture", a.posture)
			r.Get("/account", a.account)
			r.Post("/account/passkeys/begin", a.passkeyBegin)
			r.Post("/account/passkeys/finish", a.passkeyFinish)
			r.Post("/account/passkeys/remove", a.removePasskey)
			r.With(a.limiter(tokenLimit, keyByActor)).Post("/account/tokens", a.createToken)
			r.Post("/account/tokens/revoke", a.revokeMyToken)
			r.Post("/account/sessions/end", a.endMySession)
			r.With(a.limiter(challengeLimit, keyByActor)).Post("/account/keys/challenge", a.keyChallenge)
			r.Post("/account/keys", a.addEd25519Key)
			r.Route("/admin", a.adminRoutes)
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			problem(w, http.StatusNotFound, "not found", "There is no API endpoint at this address.")
			return
		}
		a.errorPage(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			problem(w, http.StatusMethodNotAllowed, "method not allowed", "This endpoint does not accept "+r.Method+".")
			return
		}
		a.errorPage(w, r, http.StatusMethodNotAllowed, "Not allowed", "This address does not accept that kind of request.")
	})
	return r
}
