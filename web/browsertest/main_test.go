package browsertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/oidctest"
	"github.com/guildhouse/guildhall/internal/testenv"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/web"
	"github.com/guildhouse/guildhall/worker"
)

// stack is the system under test, shared by the package's tests (one worker per
// dev server and task queue); tests use their own ceremony names.
var stack struct {
	baseURL  string // http://localhost:<port>
	store    *store.Store
	cer      *ceremonyclient.Client
	temporal client.Client
	// temporalAddr is the dev server's frontend, for the temporal CLI.
	temporalAddr string
	app          *web.App // LiveStreams: the server's count of open event streams
	idp          *oidctest.Provider
	browser      context.Context // the allocated Chromium; tests derive contexts from it
	outDir       string
}

// witnesses seeded for the browser tests.
var witnesses = []store.Witness{
	{ID: "alice@guildhall.test", DisplayName: "Alice Ashdown", Email: "alice@guildhall.test", Roles: []string{"security"}},
	{ID: "bob@guildhall.test", DisplayName: "Bob Brightwater", Email: "bob@guildhall.test", Roles: []string{"release"}},
	{ID: "carol@guildhall.test", DisplayName: "Carol Coldharbour", Email: "carol@guildhall.test", Roles: []string{"security", "release"}},
	{ID: "dave@guildhall.test", DisplayName: "Dave Dunmore", Email: "dave@guildhall.test", Roles: []string{"legal"}},
	{ID: "ivy@guildhall.test", DisplayName: "Ivy Ironside", Email: "ivy@guildhall.test", Roles: []string{"initiator"}},
	{ID: "erin@guildhall.test", DisplayName: "Erin Esterhuizen-Vandermeulen", Email: "erin@guildhall.test", Roles: []string{"security"}},
	{ID: "finn@guildhall.test", DisplayName: "Finn Fairweather", Email: "finn@guildhall.test", Roles: []string{"release"}},
	{ID: "gwen@guildhall.test", DisplayName: "Gwen Greenwood", Email: "gwen@guildhall.test", Roles: []string{"release"}},
	{ID: "ada@guildhall.test", DisplayName: "Ada Archer", Email: "ada@guildhall.test", Roles: []string{"admin"}},
}

// templates are the approval templates the browser tests open ceremonies from:
// "release" names Bob (release) and Carol (security); initiators open it.
var templates = []rules.Template{
	{Name: "release", Description: "Release an artifact: Bob and Carol both approve.", Kind: contract.KindRelease,
		Witnesses: rules.TemplateWitnesses{People: []contract.WitnessRef{{ID: "bob@guildhall.test", Role: "release"}, {ID: "carol@guildhall.test", Role: "security"}}},
		Quorum:    contract.Quorum{Threshold: 2}, OpenedBy: []string{"initiator"}},
	{Name: "accord", Description: "Ratify an accord: legal and security.", Kind: contract.KindRatification,
		Witnesses: rules.TemplateWitnesses{Roles: []string{"legal", "security"}},
		Quorum:    contract.Quorum{Threshold: 2, Roles: map[string]int{"legal": 1}}, OpenedBy: []string{"initiator"}},
}

// roleMap maps the test identity provider's groups to roles, as OIDC_ROLE_MAP
// would (Keycloak's group membership mapper with full paths).
var roleMap = map[string][]string{"/guildhouse/security": {"security"}, "/guildhouse/release": {"release"}}

// chromiumPath finds the system Chromium; the tests never download a browser.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM_BIN"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found: install it with `sudo apt-get install -y chromium` (Debian/Ubuntu) or set CHROMIUM_BIN")
}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser tests cannot run:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	ctx := context.Background()
	chromium, err := chromiumPath()
	if err != nil {
		return 0, err
	}
	dev, err := testenv.StartDevServer(ctx, testenv.DevServerOptions{})
	if err != nil {
		return 0, err
	}
	defer dev.Stop()
	db, err := testenv.CreateDatabase(ctx, "guildhall_browser")
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Drop(context.Background()) }()
	st, err := store.Open(ctx, store.Options{URL: db.URL, PoolSize: 10})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx); err != nil {
		return 0, err
	}
	for _, w := range witnesses {
		if err := st.EnsureWitness(ctx, store.NewPerson{ID: w.ID, DisplayName: w.DisplayName, Email: w.Email, Roles: w.Roles}, "test"); err != nil {
			return 0, err
		}
	}
	for _, t := range templates {
		if _, _, err := st.ApplyTemplate(ctx, t, "test"); err != nil {
			return 0, err
		}
	}
	tc, err := dev.Client(ctx)
	if err != nil {
		return 0, err
	}
	defer tc.Close()
	w := worker.New(tc, &activities.Activities{Store: st}, worker.Options{})
	if err := w.Start(); err != nil {
		return 0, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	// "localhost", not the IP: a WebAuthn relying party id must be a host name.
	stack.baseURL = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	logf, _ := os.CreateTemp("", "guildhall-browsertest-web-*.log")
	defer logf.Close()
	idp, err := oidctest.Start()
	if err != nil {
		return 0, err
	}
	defer idp.Close()
	stack.idp = idp
	app, err := web.New(web.Config{BaseURL: stack.baseURL, SessionSecret: []byte("browser-test-session-secret-0123456789"), DevLogin: true,
		TrustedProxies: []string{"127.0.0.1/32", "::1/128"}, // each tab says its own address: see openTab
		OIDC:           &web.OIDCConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.Secret, RoleMap: roleMap}},
		web.Deps{Store: st, Ceremonies: ceremonyclient.New(tc), Logger: slog.New(slog.NewTextHandler(logf, nil))})
	if err != nil {
		return 0, err
	}
	srv := web.NewServer(ln.Addr().String(), app)
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	stack.store, stack.cer, stack.temporal, stack.app = st, ceremonyclient.New(tc), tc, app
	stack.temporalAddr = dev.Address

	stack.outDir = os.Getenv("TEST_OUTPUT")
	if stack.outDir == "" {
		stack.outDir, _ = os.MkdirTemp("", "guildhall-browsertest-")
	}
	stack.outDir = filepath.Join(stack.outDir, "browsertest")
	if err := os.MkdirAll(stack.outDir, 0o755); err != nil {
		return 0, err
	}
	fmt.Println("screenshots:", stack.outDir, "· web log:", logf.Name())

	profile, err := os.MkdirTemp("", "guildhall-chromium-profile-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(profile)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		return 0, fmt.Errorf("start chromium %s: %w", chromium, err)
	}
	stack.browser = browser

	// The app must answer before any test starts.
	if resp, err := http.Get(strings.Replace(stack.baseURL, "localhost", "127.0.0.1", 1) + "/health"); err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("web app not healthy: %v", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return m.Run(), nil
}
