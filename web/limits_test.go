package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// tooMany checks a refusal by a limit: 429, a Retry-After in seconds, and
// words on the limit.
func tooMany(t *testing.T, what string, resp *http.Response, body string, l limit) {
	t.Helper()
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || err != nil || after <= 0 || !strings.Contains(body, l.what) {
		t.Fatalf("%s: %d, Retry-After %q, want 429 naming %q\n%s", what, resp.StatusCode, resp.Header.Get("Retry-After"), l.what, body)
	}
}

// Finding 4 of issue 17: per-person limits on opening ceremonies, minting
// tokens and API reads that query a workflow; a refusal says when to come back.
func TestCostlyActionsAreLimited(t *testing.T) {
	t.Run("opening ceremonies", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		ivy := h.client("ivy@example.org")
		// A refused form does not count: only ceremonies that open do.
		bad := composeValues("bad")
		bad.Set("digest", "nope")
		for range openLimit.n + 2 {
			if resp := h.post(ivy, "/ceremonies/new", bad); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("an invalid form: %d", resp.StatusCode)
			}
		}
		for i := range openLimit.n {
			openCeremony(t, h, fmt.Sprintf("burst-%d", i))
		}
		resp := h.post(ivy, "/ceremonies/new", composeValues("one-too-many"))
		tooMany(t, "one ceremony too many", resp, readAll(t, resp), openLimit)
		if _, err := h.fake.Status(context.Background(), "web/one-too-many"); err == nil {
			t.Fatal("the refused ceremony opened")
		}
		// Someone else is not held back by Ivy's limit.
		if err := h.st.EnsureWitness(context.Background(), store.NewPerson{ID: "olga@example.org", DisplayName: "Olga", Roles: []string{"admin"}}, "test"); err != nil {
			t.Fatal(err)
		}
		if resp := h.post(h.client("olga@example.org"), "/ceremonies/new", composeValues("olgas")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("another person opening: %d %s", resp.StatusCode, readAll(t, resp))
		}
	})
	t.Run("minting tokens", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		bob := h.client("bob@example.org")
		for range tokenLimit.n {
			h.mintToken(bob, "t")
		}
		resp := h.post(bob, "/account/tokens", url.Values{})
		tooMany(t, "one token too many", resp, readAll(t, resp), tokenLimit)
		live, _ := h.st.LiveWebSessions(context.Background(), "bob@example.org", time.Now())
		tokens := 0
		for _, s := range live {
			if s.Kind == "token" {
				tokens++
			}
		}
		if tokens != tokenLimit.n {
			t.Fatalf("%d tokens live, want %d", tokens, tokenLimit.n)
		}
	})
	t.Run("API reads of live state", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		id := openCeremony(t, h, "reads")
		api := h.apiClient(t)
		tok := h.token(t, "bob@example.org")
		queries := h.fake.queryCount()
		for i := range readLimit.n {
			path := "/api/v1/ceremonies/" + id
			if i%2 == 1 {
				path += "/statement?decision=approve"
			}
			if resp, p := api("GET", path, tok, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("read %d: %d %v", i, resp.StatusCode, p)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/v1/ceremonies/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		tooMany(t, "one read too many", resp, body, readLimit)
		if resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("the API's refusal is %s", resp.Header.Get("Content-Type"))
		}
		if n := h.fake.queryCount() - queries; n != readLimit.n {
			t.Errorf("%d status queries for %d reads that passed", n, readLimit.n)
		}
		// Lists come from the Ops DB and are not held back.
		if resp, _ := api("GET", "/api/v1/ceremonies", tok, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("a list after the read limit: %d", resp.StatusCode)
		}
	})
}

// fakeCluster stands in for the cluster's Ceremony resources (cluster mode);
// with err set, creating one fails.
type fakeCluster struct {
	mu      sync.Mutex
	err     error
	created []string
}

func (c *fakeCluster) CreateCeremony(_ context.Context, spec contract.Spec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.created = append(c.created, spec.ID)
	return nil
}

func (c *fakeCluster) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

func (f *fakeCeremonies) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// composeAs posts the composer form for a ceremony named name as c and wants
// status code back.
func composeAs(t *testing.T, h *harness, c *http.Client, name string, code int) {
	t.Helper()
	resp := h.post(c, "/ceremonies/new", composeValues(name))
	if body := readAll(t, resp); resp.StatusCode != code {
		t.Fatalf("open %s: %d, want %d\n%s", name, resp.StatusCode, code, body)
	}
}

// The open limit bounds ceremonies opened: an open that fails (Temporal
// unreachable, the cluster refusing the resource, the name taken) does not
// spend the person's budget; openLimit.n that open do, and the next is refused.
func TestOnlyOpenedCeremoniesCount(t *testing.T) {
	n := openLimit.n
	refused := func(t *testing.T, h *harness, c *http.Client, name string) {
		t.Helper()
		resp := h.post(c, "/ceremonies/new", composeValues(name))
		tooMany(t, "one ceremony too many", resp, readAll(t, resp), openLimit)
	}
	t.Run("Temporal unreachable", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		ivy := h.client("ivy@example.org")
		h.fake.setDown(true)
		for i := range n {
			composeAs(t, h, ivy, fmt.Sprintf("outage-%d", i), http.StatusServiceUnavailable)
		}
		h.fake.setDown(false)
		for i := range n {
			composeAs(t, h, ivy, fmt.Sprintf("real-%d", i), http.StatusSeeOther)
		}
		refused(t, h, ivy, "one-too-many")
		if _, err := h.fake.Status(context.Background(), "web/one-too-many"); err == nil {
			t.Fatal("the refused ceremony opened")
		}
	})
	t.Run("name taken", func(t *testing.T) {
		h := newHarness(t, storetest.SQLite(t))
		ivy := h.client("ivy@example.org")
		composeAs(t, h, ivy, "taken", http.StatusSeeOther)
		for range n {
			composeAs(t, h, ivy, "taken", http.StatusConflict)
		}
		for i := 1; i < n; i++ {
			composeAs(t, h, ivy, fmt.Sprintf("real-%d", i), http.StatusSeeOther)
		}
		refused(t, h, ivy, "one-too-many")
	})
	t.Run("cluster refusing the resource", func(t *testing.T) {
		cluster := &fakeCluster{}
		h := newHarnessWith(t, storetest.SQLite(t), Deps{Cluster: cluster})
		ivy := h.client("ivy@example.org")
		cluster.fail(errors.New("the API server is unreachable"))
		for i := range n {
			composeAs(t, h, ivy, fmt.Sprintf("outage-%d", i), http.StatusServiceUnavailable)
		}
		cluster.fail(nil)
		for i := range n {
			composeAs(t, h, ivy, fmt.Sprintf("real-%d", i), http.StatusSeeOther)
		}
		refused(t, h, ivy, "one-too-many")
		cluster.mu.Lock()
		defer cluster.mu.Unlock()
		if len(cluster.created) != n {
			t.Fatalf("%d resources created, want %d", len(cluster.created), n)
		}
	})
}

// Opens in flight together hold the person's budget: with openLimit.n of them
// waiting on Temporal, more are refused at once rather than all let through
// to be counted afterwards; the ones held are counted when they open.
func TestConcurrentOpensStayWithinTheLimit(t *testing.T) {
	const extra = 3
	n := openLimit.n
	h := newHarness(t, storetest.SQLite(t))
	ivy := h.client("ivy@example.org")
	gate, entered := make(chan struct{}), make(chan string, n+extra)
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // before the server's Close, which waits for the opens
	h.fake.mu.Lock()
	h.fake.openGate, h.fake.openEntered = gate, entered
	h.fake.mu.Unlock()

	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	answers := make(chan answer, n+extra)
	for i := range n + extra {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/ceremonies/new", strings.NewReader(composeValues(fmt.Sprintf("rush-%d", i)).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			resp, err := ivy.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{resp, string(b), err}
		}()
	}
	timeout := time.After(20 * time.Second)
	for inFlight, refusals := 0, 0; inFlight < n || refusals < extra; {
		select {
		case <-entered:
			if inFlight++; inFlight > n {
				t.Fatalf("%d opens in flight at once, over the limit of %d", inFlight, n)
			}
		case a := <-answers:
			if a.err != nil {
				t.Fatal(a.err)
			}
			tooMany(t, "an open beyond those in flight", a.resp, a.body, openLimit)
			refusals++
		case <-timeout:
			t.Fatalf("%d opens in flight and %d refused, want %d and %d", inFlight, refusals, n, extra)
		}
	}
	release()
	for range n {
		if a := <-answers; a.err != nil || a.resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("an open held in flight: %v %v\n%s", a.err, a.resp, a.body)
		}
	}
	h.fake.mu.Lock()
	h.fake.openGate = nil
	h.fake.mu.Unlock()
	resp := h.post(ivy, "/ceremonies/new", composeValues("after-the-rush"))
	tooMany(t, "an open after the rush", resp, readAll(t, resp), openLimit)
}
