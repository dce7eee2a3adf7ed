// Package intunetest is an in-process fake of the parts of Microsoft Entra ID
// and Microsoft Graph that package intune uses, for tests: an HTTPS token
// endpoint (client secret and certificate assertions, token expiry, wrong
// tenant and wrong client refusals in the identity platform's error shape) and
// the Intune mobileApp, assignments and assign endpoints over in-memory state,
// with paging, throttling, outages, a request log, and a way to change
// assignments behind the client's back.
//
// It decodes requests on its own terms (not with package intune's types), so a
// test against it checks the documented wire shapes, not the client's idea of them.
package intunetest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/guildhouse/guildhall/intune"
)

// Intune's fixed ids for its two virtual groups, used in assignment ids.
const (
	allUsersID   = "acacacac-9df4-4c7d-9d50-4ef0226f57a9"
	allDevicesID = "adadadad-808e-44e2-905a-0b7873a8a531"
)

// Server is the fake. Its exported fields are the registered identity; change
// them before the first request.
type Server struct {
	// TenantID is the tenant the app registration lives in.
	TenantID string
	// OtherTenantID exists but does not know the app: the token endpoint answers
	// AADSTS700016, as Entra does for an app registered in another tenant.
	OtherTenantID string
	ClientID      string
	ClientSecret  string
	// Scope is the only scope the token endpoint grants (intune.DefaultScope).
	Scope string
	// URL is the server's base (https://127.0.0.1:port); Graph is under URL+"/v1.0".
	URL string

	srv *httptest.Server

	mu            sync.Mutex
	now           func() time.Time
	tokenLifetime time.Duration
	pageSize      int
	certs         []*x509.Certificate
	tokens        map[string]time.Time
	usedJTI       map[string]bool
	apps          map[string]*fakeApp
	graphFaults   []fault
	tokenFaults   []fault
	outageUntil   time.Time
	outageAfter   string
	delays        []delay
	log           []Request
}

type fakeApp struct {
	app         App
	assignments []Assignment
}

type delay struct {
	n int
	d time.Duration
}

type fault struct {
	n          int
	status     int
	retryAfter string
}

// App is an Intune app the fake knows.
type App struct {
	ID          string
	DisplayName string
	// ODataType defaults to #microsoft.graph.win32LobApp.
	ODataType string
}

// Assignment is one stored mobileAppAssignment.
type Assignment struct {
	ID     string
	Intent string
	// TargetType is the target's @odata.type (#microsoft.graph.groupAssignmentTarget …).
	TargetType string
	GroupID    string
	FilterID   string
	FilterType string
	// Settings is the settings object verbatim, or nil for null.
	Settings json.RawMessage
}

// Request is one request the fake received.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Query  url.Values
	Status int
	// Body is the request body of Graph POSTs.
	Body []byte
	// Form is a token request's form, without client_secret and client_assertion.
	Form            url.Values
	Authorization   bool
	ClientRequestID string
}

// New starts a fake on 127.0.0.1 with fresh random ids and a secret; the test
// stops it.
func New(t testing.TB) *Server {
	s := &Server{
		TenantID:      uuid.NewString(),
		OtherTenantID: uuid.NewString(),
		ClientID:      uuid.NewString(),
		ClientSecret:  randomSecret(),
		Scope:         intune.DefaultScope,
		now:           time.Now,
		tokenLifetime: time.Hour - time.Second,
		pageSize:      100,
		tokens:        map[string]time.Time{},
		usedJTI:       map[string]bool{},
		apps:          map[string]*fakeApp{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.serveToken)
	mux.HandleFunc("GET /v1.0/deviceAppManagement/mobileApps/{id}", s.graph(s.serveApp))
	mux.HandleFunc("GET /v1.0/deviceAppManagement/mobileApps/{id}/assignments", s.graph(s.serveAssignments))
	mux.HandleFunc("POST /v1.0/deviceAppManagement/mobileApps/{id}/assign", s.graph(s.serveAssign))
	mux.HandleFunc("/", s.graph(func(w http.ResponseWriter, r *http.Request, _ []byte) int {
		return graphErr(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+r.URL.Path+"'.")
	}))
	s.srv = httptest.NewUnstartedServer(mux)
	// Handshakes cut short by a client giving up are expected here; the request
	// log is the record.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "gh~" + hex.EncodeToString(b)
}

// Config is an intune.Config that reaches this fake with the client secret.
func (s *Server) Config() intune.Config {
	return intune.Config{
		TenantID:     s.TenantID,
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		AuthorityURL: s.URL,
		BaseURL:      s.URL + "/v1.0",
		HTTPClient:   s.srv.Client(),
	}
}

// HTTPClient trusts the fake's TLS certificate.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// CertificatePEM is the fake's TLS certificate, for a process that cannot be
// given HTTPClient (point SSL_CERT_FILE at a file holding it).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// TokenURL is the token endpoint of tenant.
func (s *Server) TokenURL(tenant string) string { return s.URL + "/" + tenant + "/oauth2/v2.0/token" }

// SetClock replaces the fake's clock (token expiry, outages, assertion times).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// SetTokenLifetime sets expires_in of the tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	s.tokenLifetime = d
	s.mu.Unlock()
}

// SetPageSize sets how many assignments one page of GET …/assignments holds.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	s.pageSize = max(n, 1)
	s.mu.Unlock()
}

// ExpireTokens makes every token issued so far expired: Graph answers 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.tokens {
		s.tokens[tok] = time.Time{}
	}
}

// Throttle answers the next n Graph requests with 429 and this Retry-After
// (delay-seconds or an HTTP date; "" for none).
func (s *Server) Throttle(n int, retryAfter string) {
	s.FailGraph(n, http.StatusTooManyRequests, retryAfter)
}

// FailGraph answers the next n Graph requests with status and Retry-After.
func (s *Server) FailGraph(n, status int, retryAfter string) {
	s.mu.Lock()
	s.graphFaults = append(s.graphFaults, fault{n: n, status: status, retryAfter: retryAfter})
	s.mu.Unlock()
}

// FailToken answers the next n token requests with status and Retry-After.
func (s *Server) FailToken(n, status int, retryAfter string) {
	s.mu.Lock()
	s.tokenFaults = append(s.tokenFaults, fault{n: n, status: status, retryAfter: retryAfter})
	s.mu.Unlock()
}

// Outage answers every Graph request with 503 (and this Retry-After) until d
// has passed on the fake's clock.
func (s *Server) Outage(d time.Duration, retryAfter string) {
	s.mu.Lock()
	s.outageUntil, s.outageAfter = s.now().Add(d), retryAfter
	s.mu.Unlock()
}

// Delay holds the next n Graph requests for d of real time (or until the
// client gives up) before answering, to exercise the client's request timeout.
func (s *Server) Delay(n int, d time.Duration) {
	s.mu.Lock()
	s.delays = append(s.delays, delay{n: n, d: d})
	s.mu.Unlock()
}

// takeDelay consumes one use of the first queued delay; s.mu is held.
func (s *Server) takeDelay() time.Duration {
	for len(s.delays) > 0 && s.delays[0].n <= 0 {
		s.delays = s.delays[1:]
	}
	if len(s.delays) == 0 {
		return 0
	}
	s.delays[0].n--
	return s.delays[0].d
}

// RegisterCertificate adds a certificate credential to the app registration.
func (s *Server) RegisterCertificate(c *x509.Certificate) {
	s.mu.Lock()
	s.certs = append(s.certs, c)
	s.mu.Unlock()
}

// AddApp adds an Intune app with no assignments.
func (s *Server) AddApp(a App) {
	if a.ODataType == "" {
		a.ODataType = "#microsoft.graph.win32LobApp"
	}
	s.mu.Lock()
	s.apps[strings.ToLower(a.ID)] = &fakeApp{app: a}
	s.mu.Unlock()
}

// SetAssignments replaces an app's assignments, as an Intune administrator
// would behind Guildhall's back. Empty ids get Intune-shaped ones.
func (s *Server) SetAssignments(appID string, as ...Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[strings.ToLower(appID)]
	if a == nil {
		panic("intunetest: no app " + appID)
	}
	a.assignments = nil
	for _, x := range as {
		if x.FilterType == "" {
			x.FilterType = "none"
		}
		if x.ID == "" {
			x.ID = assignmentID(x)
		}
		a.assignments = append(a.assignments, x)
	}
}

// ChangeIntent sets the intent of the group assignment of groupID, behind
// Guildhall's back (the id changes with it, as it does in Intune).
func (s *Server) ChangeIntent(appID, groupID, intent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.apps[strings.ToLower(appID)].assignments {
		if strings.EqualFold(x.GroupID, groupID) && x.TargetType == intune.TypeGroupTarget {
			x.Intent = intent
			x.ID = assignmentID(x)
			s.apps[strings.ToLower(appID)].assignments[i] = x
			return
		}
	}
	panic("intunetest: no assignment for group " + groupID)
}

// Assignments returns an app's assignments as stored.
func (s *Server) Assignments(appID string) []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Assignment(nil), s.apps[strings.ToLower(appID)].assignments...)
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count counts logged requests by method and path suffix ("/assign", "/token").
func (s *Server) Count(method, pathSuffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathSuffix) {
			n++
		}
	}
	return n
}

// ResetLog forgets the requests so far.
func (s *Server) ResetLog() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

// assignmentID mimics the shape of Intune's ids: group, intent and whether it
// excludes. Like Intune's, it changes when the intent changes, so a client
// cannot recognise its assignments by id across an assign call.
func assignmentID(a Assignment) string {
	group := a.GroupID
	switch a.TargetType {
	case intune.TypeAllUsersTarget:
		group = allUsersID
	case intune.TypeAllDevicesTarget:
		group = allDevicesID
	}
	ex := 0
	if a.TargetType == intune.TypeExclusionTarget {
		ex = 1
	}
	return fmt.Sprintf("%s_%d_%d", group, intentIndex(a.Intent), ex)
}

var intents = []string{"available", "required", "uninstall", "availableWithoutEnrollment"}

func intentIndex(i string) int {
	for n, k := range intents {
		if k == i {
			return n
		}
	}
	return -1
}
