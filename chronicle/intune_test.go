package chronicle_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// A revocation starts the withdrawal of every deployment of the artifact still
// released, and none already withdrawn; if the start fails, the event is
// recorded but answered as worth resending, and the resend starts it.
func TestRevocationWithdrawsIntuneDeployments(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	governedStore(t, s)
	target := &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}}
	for i, id := range []string{"default/app", "default/app-pilot"} {
		if _, err := s.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Digest: governed, Target: target, Decision: contract.IntuneReleased,
			Cause: contract.IntuneCauseSealed, By: "substrate", Key: "req-" + id, At: t0}); err != nil {
			t.Fatal(err)
		}
		if i == 1 { // already being withdrawn
			if _, err := s.RequestIntune(ctx, store.IntuneRequest{CeremonyID: id, Decision: contract.IntuneRevoked, Cause: contract.IntuneCauseOperator,
				By: "ada", Key: "req2-" + id, At: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var started []contract.IntuneJob
	fail := true
	p := chronicle.NewProjector(s).WithIntune(&chronicle.IntuneWithdrawal{Deployments: s, Start: func(_ context.Context, j contract.IntuneJob) error {
		if fail {
			return errors.New("temporal unreachable")
		}
		started = append(started, j)
		return nil
	}})
	h := chronicle.NewHandler(p, "token")
	post := func() int {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/chronicle", strings.NewReader(
			`{"id":"evt-r","type":"artifact.revoked","time":"2026-11-27T10:02:00Z","artifact":{"name":"app","digest":"`+governed+`"}}`))
		req.Header.Set("Authorization", "Bearer token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("start failed: %d, want 503 (resend)", code)
	}
	if a, _ := s.GetArtifact(ctx, governed); a.State != store.ArtifactRevoked {
		t.Fatalf("the revocation was not recorded: %s", a.State)
	}
	fail = false
	if code := post(); code != http.StatusOK {
		t.Fatalf("resend: %d", code)
	}
	want := contract.IntuneJob{CeremonyID: "default/app", Decision: contract.IntuneRevoked, Digest: governed,
		Cause: contract.IntuneCauseRevoked, By: "chronicle:evt-r"}
	if len(started) != 1 || started[0] != want {
		t.Fatalf("withdrawals started: %+v, want only %+v", started, want)
	}
}
