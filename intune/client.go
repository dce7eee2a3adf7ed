package intune

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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

// Client is a small typed Microsoft Graph client for the Intune app assignment
// endpoints. It is safe for concurrent use.
type Client struct {
	cfg      Config
	http     *http.Client
	tokenURL string
	base     *url.URL
	log      *slog.Logger

	tokenLock chan struct{} // guards access and expires; a channel so waiters can give up
	access    string
	expires   time.Time
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
	if !IsGUID(cfg.TenantID) && !isDomain(cfg.TenantID) {
		return configError(SettingTenantID, "%q is neither a tenant id (GUID) nor a domain", cfg.TenantID)
	}
	if !IsGUID(cfg.ClientID) {
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

func (c *Client) now() time.Time { return c.cfg.Now() }

// Call records one HTTP exchange with the token endpoint or Graph, for the
// custody chain: never a token, a secret or an assertion.
type Call struct {
	Time             time.Time `json:"time"`
	Op               string    `json:"op"`
	Method           string    `json:"method"`
	URL              string    `json:"url"`
	Attempt          int       `json:"attempt,omitempty"`
	Status           int       `json:"status,omitempty"`
	RequestID        string    `json:"requestId,omitempty"`
	ClientRequestID  string    `json:"clientRequestId,omitempty"`
	Millis           int64     `json:"ms"`
	RetryAfterMillis int64     `json:"retryAfterMs,omitempty"`
	Error            string    `json:"error,omitempty"`
}

// recorder collects the calls of one operation. A nil recorder drops them.
type recorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *recorder) add(c Call) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) list() []Call {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// record keeps a call for the operation's result and logs it (never a token:
// Call has no field that could hold one).
func (c *Client) record(rec *recorder, call Call) {
	c.log.Debug("graph call", "op", call.Op, "method", call.Method, "url", call.URL, "attempt", call.Attempt,
		"status", call.Status, "request_id", call.RequestID, "ms", call.Millis, "error", call.Error)
	rec.add(call)
}

// maxBody bounds what is read from one answer.
const maxBody = 16 << 20

// send makes one Graph call with the manners Graph asks for: a fresh token,
// one refresh after a 401, waits on 429/5xx as long as Retry-After says (or an
// exponential backoff), a bounded number of attempts, a timeout per attempt.
func (c *Client) send(ctx context.Context, rec *recorder, op, method, rawURL string, body []byte, out any) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, rec, op, method, rawURL, body, out, attempt)
		if err == nil {
			return nil
		}
		if err.Status == http.StatusUnauthorized && err.Op != "token" && !refreshed {
			refreshed = true // the token was dropped; fetch a new one, once, without counting an attempt
			attempt--
			continue
		}
		if !err.Retryable() || attempt >= c.cfg.MaxAttempts {
			return err
		}
		wait := err.RetryAfter
		if wait == 0 {
			wait = backoff(attempt, c.cfg.BaseBackoff, c.cfg.MaxBackoff)
		}
		if wait > c.cfg.MaxWait {
			return err // the caller (a Temporal retry) waits instead of holding this call
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			return err
		}
		c.log.Warn("graph: retrying", "op", op, "status", err.Status, "attempt", attempt, "wait", wait, "reason", err.Message)
		if serr := c.cfg.Sleep(ctx, wait); serr != nil {
			return &Error{Kind: KindUnavailable, Op: op, Message: "gave up waiting to retry: " + serr.Error(), Err: serr}
		}
	}
}

// attempt is one try of a Graph call.
func (c *Client) attempt(ctx context.Context, rec *recorder, op, method, rawURL string, body []byte, out any, n int) *Error {
	tok, err := c.token(ctx, rec)
	if err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return c.networkError("token", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, rerr := http.NewRequestWithContext(actx, method, rawURL, rd)
	if rerr != nil {
		return &Error{Kind: KindInvalid, Op: op, Message: rerr.Error(), Err: rerr}
	}
	crid := uuid.NewString()
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", crid)
	req.Header.Set("User-Agent", "guildhall-intune")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := c.now()
	call := Call{Time: start, Op: op, Method: method, URL: rawURL, Attempt: n, ClientRequestID: crid}
	resp, herr := c.http.Do(req)
	var data []byte
	if herr == nil {
		data, herr = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}
	call.Millis = c.now().Sub(start).Milliseconds()
	if herr == nil && actx.Err() != nil {
		herr = actx.Err() // an answer that arrived as the attempt timed out is not trusted
	}
	if herr != nil {
		e := c.networkError(op, herr)
		if resp != nil {
			e.Status = resp.StatusCode
		}
		call.Status, call.Error = e.Status, e.Error()
		c.record(rec, call)
		return e
	}
	call.Status, call.RequestID = resp.StatusCode, resp.Header.Get("request-id")
	if resp.StatusCode/100 == 2 {
		e := decodeAnswer(data, out)
		if e != nil {
			e.Op, e.Status, e.RequestID = op, resp.StatusCode, call.RequestID
			call.Error = e.Error()
		}
		c.record(rec, call)
		return e
	}
	e := c.graphError(op, resp, data)
	call.Error, call.RetryAfterMillis = e.Error(), e.RetryAfter.Milliseconds()
	c.record(rec, call)
	if resp.StatusCode == http.StatusUnauthorized {
		c.dropToken(tok)
	}
	return e
}

// decodeAnswer reads a successful answer into out (nil: no body expected). An
// empty body where one is expected is an answer cut short: worth a retry.
func decodeAnswer(data []byte, out any) *Error {
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Kind: KindUnavailable, Message: "Graph answered with an empty body"}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Kind: KindInvalid, Message: "Graph answered with JSON this client cannot read: " + err.Error(), Err: err}
	}
	return nil
}

// graphErrorBody is Graph's error answer.
type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// graphError turns a Graph error answer into an *Error.
func (c *Client) graphError(op string, resp *http.Response, data []byte) *Error {
	var b graphErrorBody
	_ = json.Unmarshal(data, &b)
	e := &Error{Op: op, Status: resp.StatusCode, Code: b.Error.Code, RequestID: resp.Header.Get("request-id")}
	if e.RequestID == "" {
		e.RequestID = b.Error.InnerError.RequestID
	}
	detail := strings.TrimSpace(b.Error.Message)
	if detail == "" {
		detail = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = KindThrottled, "Graph is throttling this application ("+status+")"
	case retryStatus(code):
		e.Kind, e.Message = KindUnavailable, "Graph is unavailable ("+status+")"
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = KindAuth, "Graph refused the access token ("+status+")"
	case code == http.StatusForbidden:
		e.Kind = KindPermission
		e.Message = "Graph refused the call (" + status + "): grant the app registration the application permission DeviceManagementApps.ReadWrite.All with admin consent, and check the tenant has an Intune licence"
	case code == http.StatusNotFound:
		e.Kind, e.Message = KindNotFound, "Graph has no such object in this tenant ("+status+")"
	default:
		e.Kind, e.Message = KindInvalid, "Graph refused the request ("+status+")"
	}
	if retryStatus(resp.StatusCode) {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	if detail != "" {
		e.Message += ": " + detail
	}
	return c.redact(e)
}

// appURL is the URL of a mobileApp, or of one of its sub-resources.
func (c *Client) appURL(appID string, sub ...string) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/deviceAppManagement/mobileApps/" + url.PathEscape(appID)
	for _, s := range sub {
		u.Path += "/" + s
	}
	return u.String()
}

// GetApp reads an Intune app: GET /deviceAppManagement/mobileApps/{id}.
func (c *Client) GetApp(ctx context.Context, appID string) (MobileApp, error) {
	return c.getApp(ctx, nil, appID)
}

func (c *Client) getApp(ctx context.Context, rec *recorder, appID string) (MobileApp, error) {
	if !IsGUID(appID) {
		return MobileApp{}, &Error{Kind: KindInvalid, Op: "get app", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	var a appAnswer
	if err := c.send(ctx, rec, "get app", http.MethodGet, c.appURL(appID), nil, &a); err != nil {
		return MobileApp{}, notFoundApp(err, appID)
	}
	return a.app(), nil
}

// appAnswer reads GET …/mobileApps/{id}. The Intune reference pages show the
// entity wrapped in "value"; the service answers with the entity itself. Both
// are read.
type appAnswer struct {
	MobileApp
	Value *MobileApp `json:"value"`
}

func (a appAnswer) app() MobileApp {
	if a.ID == "" && a.Value != nil {
		return *a.Value
	}
	return a.MobileApp
}

// notFoundApp says which app a 404 was about.
func notFoundApp(err error, appID string) error {
	if e, ok := err.(*Error); ok && e.Kind == KindNotFound {
		e.Message = fmt.Sprintf("no Intune app with id %s in this tenant (%s)", appID, e.Message)
	}
	return err
}

// maxPages guards against a next-link loop.
const maxPages = 1000

// ListAssignments reads all of an app's assignments, following @odata.nextLink:
// GET /deviceAppManagement/mobileApps/{id}/assignments.
func (c *Client) ListAssignments(ctx context.Context, appID string) ([]Assignment, error) {
	return c.listAssignments(ctx, nil, appID)
}

func (c *Client) listAssignments(ctx context.Context, rec *recorder, appID string) ([]Assignment, error) {
	if !IsGUID(appID) {
		return nil, &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	var out []Assignment
	next := c.appURL(appID, "assignments")
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("more than %d pages of assignments", maxPages)}
		}
		if err := c.sameOrigin(next); err != nil {
			return nil, err
		}
		var p assignmentPage
		if err := c.send(ctx, rec, "list assignments", http.MethodGet, next, nil, &p); err != nil {
			return nil, notFoundApp(err, appID)
		}
		out = append(out, p.Value...)
		next = p.NextLink
	}
	return out, nil
}

// sameOrigin refuses a next link that leaves the configured Graph endpoint: the
// bearer token goes only where it was meant to.
func (c *Client) sameOrigin(link string) error {
	u, err := url.Parse(link)
	if err == nil && u.Scheme == c.base.Scheme && u.Host == c.base.Host && strings.HasPrefix(u.Path, c.base.Path) {
		return nil
	}
	return &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("Graph sent a next-page link outside %s; not followed", c.base)}
}

// Assign replaces an app's assignments with exactly as:
// POST /deviceAppManagement/mobileApps/{id}/assign (204 No Content).
func (c *Client) Assign(ctx context.Context, appID string, as []Assignment) error {
	return c.assign(ctx, nil, appID, as)
}

func (c *Client) assign(ctx context.Context, rec *recorder, appID string, as []Assignment) error {
	if !IsGUID(appID) {
		return &Error{Kind: KindInvalid, Op: "assign", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	if as == nil {
		as = []Assignment{}
	}
	body, err := json.Marshal(AssignRequest{MobileAppAssignments: as})
	if err != nil {
		return &Error{Kind: KindInvalid, Op: "assign", Message: err.Error(), Err: err}
	}
	return notFoundApp(c.send(ctx, rec, "assign", http.MethodPost, c.appURL(appID, "assign"), body, nil), appID)
}
