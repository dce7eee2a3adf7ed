package chronicle_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

var (
	t0       = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	governed = "sha256:" + strings.Repeat("ab", 32)
	stranger = "sha256:" + strings.Repeat("cd", 32)
)

// file is a Chronicle export with good, duplicate and bad lines.
var file = strings.Join([]string{
	`{"id":"evt-1","type":"deployment.observed","source":"chronicle/cluster-a","time":"2026-11-27T10:00:00Z","data":{"namespace":"prod","replicas":3}}`,
	``,
	`{"id":"evt-2","type":"artifact.observed","source":"chronicle/cluster-a","time":"2026-11-27T10:01:00Z","artifact":{"name":"sidecar","digest":"` + stranger + `"}}`,
	`{"id":"evt-3","type":"artifact.revoked","source":"chronicle/cluster-a","time":"2026-11-27T10:02:00Z","artifact":{"name":"app","digest":"` + governed + `"},"data":{"reason":"CVE-2026-1234"}}`,
	`{"id":"evt-1","type":"deployment.observed","source":"chronicle/cluster-a","time":"2026-11-27T10:00:00Z","data":{"replicas":3,"namespace":"prod"}}`,
	`{"id":"evt-4","type":"Artifact Revoked","time":"2026-11-27T10:03:00Z"}`,
	`{"id":"evt-5","type":"artifact.revoked","time":"2026-11-27T10:03:00Z"}`,
	`{"id":"evt-6","type":"note","time":"yesterday"}`,
	`{"id":"evt-7","type":"note","time":"2026-11-27T10:03:00Z","colour":"red"}`,
	`not json at all`,
	`{"id":"evt-1","type":"deployment.observed","source":"chronicle/cluster-a","time":"2026-11-27T10:00:00Z","data":{"replicas":4}}`,
	`{"id":"evt-8","type":"artifact.revoked","time":"2026-11-27T10:04:00Z","artifact":{"name":"x","digest":"` + "sha256:" + strings.Repeat("ef", 32) + `"}}`,
	`{"type":"note","time":"2026-11-27T10:03:00Z"}`,
	`{"id":"evt-9","type":"note","time":"2026-11-27T10:05:00Z","artifact":{"name":"x","digest":"sha256:short"}}`,
	`{"id":"evt-10","type":"ceremony.noted","time":"2026-11-27T10:06:00Z"}`,
}, "\n")

func governedStore(t *testing.T, s *store.Store) {
	t.Helper()
	sp := contract.Spec{ID: "default/rel-1", Kind: "release", Artifact: contract.Artifact{Name: "app", Digest: governed},
		Initiator: "ivy", Witnesses: []contract.WitnessRef{{ID: "alice"}}, Quorum: contract.Quorum{Threshold: 1}, Deadline: t0.Add(time.Hour)}
	if err := s.RecordOpened(context.Background(), store.Opened{Spec: sp, WorkflowID: "w", OpenedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

func TestImportIsIdempotentAndReportsEachBadLine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		governedStore(t, s)
		p := chronicle.NewProjector(s)
		sum, err := p.Import(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Lines != 14 || sum.Projected != 4 || sum.Duplicates != 1 || sum.Failed != 9 {
			t.Fatalf("summary = %+v", sum)
		}
		wantErrs := map[int]string{
			6:  "type \"Artifact Revoked\" must be lowercase",
			7:  "a artifact.revoked event needs an artifact",
			8:  "is not an RFC 3339 time",
			9:  "unknown field \"colour\"",
			10: "not a Chronicle event",
			11: "already used for different content",
			12: "not governed here",
			13: "id is required",
			14: "not sha256:<64",
		}
		for _, e := range sum.Errors {
			want, ok := wantErrs[e.Line]
			if !ok || !strings.Contains(e.Error, want) || e.Retry {
				t.Errorf("line %d: %q (retry %v); want %q", e.Line, e.Error, e.Retry, want)
			}
			delete(wantErrs, e.Line)
		}
		if len(wantErrs) > 0 {
			t.Errorf("no error reported for lines %v", wantErrs)
		}
		head, _ := s.ChainHead(ctx)
		// Replaying the same file adds nothing at all.
		again, err := p.Import(ctx, strings.NewReader(file))
		if err != nil || again.Projected != 0 || again.Duplicates != 5 || again.Failed != 9 {
			t.Fatalf("replay = %+v, %v", again, err)
		}
		if h, _ := s.ChainHead(ctx); h.Seq != head.Seq {
			t.Fatalf("replay appended custody events: head %d → %d", head.Seq, h.Seq)
		}
		// The effects: the governed artifact is revoked, the observed one is now governed.
		if a, _ := s.GetArtifact(ctx, governed); a.State != store.ArtifactRevoked {
			t.Fatalf("governed artifact is %s", a.State)
		}
		if a, err := s.GetArtifact(ctx, stranger); err != nil || a.State != store.ArtifactProposed || a.Name != "sidecar" {
			t.Fatalf("observed artifact: %+v %v", a, err)
		}
		evs, err := s.ListChronicle(ctx, store.ChronicleFilter{})
		if err != nil || len(evs) != 4 || evs[0].ID != "evt-10" {
			t.Fatalf("ListChronicle = %d events %v", len(evs), err)
		}
		// Key order in the input does not matter: the stored body is canonical.
		var one store.ChronicleEvent
		for _, e := range evs {
			if e.ID == "evt-1" {
				one = e
			}
		}
		if one.Body != `{"data":{"namespace":"prod","replicas":3},"id":"evt-1","source":"chronicle/cluster-a","time":"2026-11-27T10:00:00Z","type":"deployment.observed"}` {
			t.Fatalf("stored body %s", one.Body)
		}
		link, _ := s.CustodyLink(ctx, one.CustodySeq)
		if link.Type != custody.TypeChronicle || !strings.Contains(link.Body, `"event":{"data":{"namespace":"prod"`) {
			t.Fatalf("custody link of evt-1: %+v", link)
		}
		revoked, _ := s.ArtifactCustody(ctx, governed, 100)
		last := revoked[len(revoked)-1]
		if last.Type != custody.TypeArtifactState || !strings.Contains(last.Body, "chronicle event evt-3: CVE-2026-1234") {
			t.Fatalf("revocation custody link: %s", last.Body)
		}
		if _, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIngestHandler(t *testing.T) {
	s := storetest.Postgres(t)
	governedStore(t, s)
	srv := httptest.NewServer(chronicle.NewHandler(chronicle.NewProjector(s), "s3cret-token"))
	defer srv.Close()
	post := func(token, body string) (int, chronicle.Summary) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var sum chronicle.Summary
		_ = json.NewDecoder(res.Body).Decode(&sum)
		return res.StatusCode, sum
	}
	good := `{"id":"h-1","type":"note","time":"2026-11-27T10:00:00Z"}` + "\n" + `{"id":"h-2","type":"note","time":"2026-11-27T10:00:01Z"}`
	if code, _ := post("", good); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := post("s3cret-tokeX", good); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, sum := post("s3cret-token", good); code != http.StatusOK || sum.Projected != 2 {
		t.Fatalf("good batch: %d %+v", code, sum)
	}
	if code, sum := post("s3cret-token", `[{"id":"h-2","type":"note","time":"2026-11-27T10:00:01Z"},{"id":"h-3","type":"note"}]`); code != http.StatusUnprocessableEntity ||
		sum.Duplicates != 1 || sum.Failed != 1 || sum.Errors[0].Line != 2 {
		t.Fatalf("array with a bad event: %d %+v", code, sum)
	}
	if code, _ := post("s3cret-token", `[not json`); code != http.StatusBadRequest {
		t.Fatalf("broken array: %d", code)
	}
	res, _ := http.Get(srv.URL)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", res.StatusCode)
	}
	off := httptest.NewServer(chronicle.NewHandler(chronicle.NewProjector(s), ""))
	defer off.Close()
	req, _ := http.NewRequest(http.MethodPost, off.URL, strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer ")
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ingest without a configured token accepted: %d", res.StatusCode)
	}
}

// TestConcurrentDeliveriesProjectOnce: the collector may deliver one event
// through several requests at once; it is projected once.
func TestConcurrentDeliveriesProjectOnce(t *testing.T) {
	s := storetest.Postgres(t)
	p := chronicle.NewProjector(s)
	ctx := context.Background()
	done := make(chan chronicle.Result, 8)
	for range 8 {
		go func() {
			r, err := p.Project(ctx, []byte(`{"id":"dup","type":"note","time":"2026-11-27T10:00:00Z"}`))
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
	}
	fresh := 0
	for range 8 {
		if r := <-done; !r.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d deliveries projected the event", fresh)
	}
	if res, err := s.VerifyChain(ctx, store.VerifyOptions{}); err != nil || res.Links != 2 {
		t.Fatalf("chain: %+v %v", res, err)
	}
}
