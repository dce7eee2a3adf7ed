package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// recorder is a Temporal stand-in that records the signals it is sent, or
// fails every one.
type recorder struct {
	mu   sync.Mutex
	got  map[string][]contract.DirectoryChanged
	down error
}

func (r *recorder) Signal(_ context.Context, id, name string, payload any) error {
	if r.down != nil {
		return r.down
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[id] = append(r.got[id], payload.(contract.DirectoryChanged))
	return nil
}

func problemOn(err error, field string) bool {
	var ps rules.Problems
	return errors.As(err, &ps) && len(ps.On(field)) > 0
}

func TestAdmin(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	rec := &recorder{got: map[string][]contract.DirectoryChanged{}}
	d := Admin{Store: s, Ceremonies: rec}

	if _, err := d.Add(ctx, rules.PersonFields{ID: "ada@example.org", Name: "Ada", Roles: []string{"admin"}}, "cli:root"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add(ctx, rules.PersonFields{ID: "bob example", Email: "nope", Roles: []string{"Release"}}, "ada@example.org"); !problemOn(err, "id") || !problemOn(err, "email") || !problemOn(err, "roles") {
		t.Fatalf("bad entry: %v", err)
	}
	if _, err := d.Add(ctx, rules.PersonFields{ID: "ada@example.org"}, "cli:root"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("id in use: %v", err)
	}
	bob, err := d.Add(ctx, rules.PersonFields{ID: "bob@example.org", Name: "Bob", Email: "bob@example.org", Roles: []string{"release"}}, "ada@example.org")
	if err != nil || !slices.Equal(bob.Roles, []string{"release"}) {
		t.Fatalf("add bob: %+v %v", bob, err)
	}

	// The last admin keeps the role and cannot be deactivated.
	if _, _, err := d.Change(ctx, "ada@example.org", store.PersonChange{Roles: &[]string{"security"}}, "cli:root"); !problemOn(err, "roles") || !strings.Contains(err.Error(), "last active admin") {
		t.Fatalf("last admin's role: %v", err)
	}
	if _, err := d.SetActive(ctx, "ada@example.org", false, "cli:root", "left"); !problemOn(err, "id") {
		t.Fatalf("deactivate the last admin: %v", err)
	}
	// Nobody deactivates themselves, admin or not (Bob is neither the last
	// admin nor without a reason: only the rule refuses him).
	if _, err := d.SetActive(ctx, "bob@example.org", false, "bob@example.org", "testing"); !problemOn(err, "id") || !strings.Contains(err.Error(), "yourself") {
		t.Fatalf("deactivate yourself: %v", err)
	}
	if w, _ := s.GetWitness(ctx, "bob@example.org"); !w.Active() {
		t.Fatal("Bob deactivated himself")
	}
	name := "Bob Brightwater"
	if _, _, err := d.Change(ctx, "bob@example.org", store.PersonChange{DisplayName: &name, Email: &[]string{"bob@"}[0]}, "ada@example.org"); !problemOn(err, "email") || problemOn(err, "name") {
		t.Fatalf("bad e-mail: %v", err)
	}
	if w, changed, err := d.Change(ctx, "bob@example.org", store.PersonChange{DisplayName: &name}, "ada@example.org"); err != nil || !changed || w.DisplayName != name {
		t.Fatalf("rename: %+v %v %v", w, changed, err)
	}
	if w, changed, err := d.Change(ctx, "bob@example.org", store.PersonChange{DisplayName: &name}, "ada@example.org"); err != nil || changed || w.DisplayName != name {
		t.Fatalf("rename to the same name: %+v changed %v %v", w, changed, err)
	}
	if _, _, err := d.Change(ctx, "nobody@example.org", store.PersonChange{DisplayName: &name}, "ada@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("change nobody: %v", err)
	}

	// Deactivating Bob tells the open ceremony that lists him, once.
	spec := contract.Spec{ID: "web/rel", Kind: "release", Artifact: contract.Artifact{Name: "a", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Initiator: "ivy", Witnesses: []contract.WitnessRef{{ID: "bob@example.org", Role: "release"}}, Quorum: contract.Quorum{Threshold: 1},
		Deadline: time.Now().Add(time.Hour)}
	if err := s.RecordOpened(ctx, store.Opened{Spec: spec, WorkflowID: "ceremony/web/rel", OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetActive(ctx, "bob@example.org", false, "ada@example.org", ""); !problemOn(err, "reason") {
		t.Fatalf("no reason: %v", err)
	}
	o, err := d.SetActive(ctx, "bob@example.org", false, "ada@example.org", "left the company")
	if err != nil || !o.Changed || o.Witness.Active() || !slices.Equal(o.Told, []string{"web/rel"}) || o.NotTold != nil {
		t.Fatalf("deactivate bob: %+v %v", o, err)
	}
	if m := rec.got["web/rel"]; len(m) != 1 || !m[0].Deactivated || m[0].WitnessID != "bob@example.org" || m[0].By != "ada@example.org" {
		t.Fatalf("signals: %+v", m)
	}
	if o, err := d.SetActive(ctx, "bob@example.org", false, "ada@example.org", "again"); err != nil || o.Changed || len(rec.got["web/rel"]) != 1 {
		t.Fatalf("deactivating twice: %+v %v", o, err)
	}

	// Temporal down: the reactivation stands, and the outcome says who missed it.
	rec.down = errors.New("connection refused")
	o, err = d.SetActive(ctx, "bob@example.org", true, "ada@example.org", "")
	if err != nil || !o.Changed || !o.Witness.Active() || len(o.Told) != 0 || o.NotTold == nil || !strings.Contains(o.NotTold.Error(), "web/rel") {
		t.Fatalf("reactivate with Temporal down: %+v %v", o, err)
	}
	if w, _ := s.GetWitness(ctx, "bob@example.org"); !w.Active() {
		t.Fatal("the reactivation did not stand")
	}
	rec.down = nil
	if !slices.Equal(o.Missed, []string{"web/rel"}) {
		t.Fatalf("missed: %v", o.Missed)
	}
	if told := d.Tell(ctx, o.Witness, "ada@example.org"); told.NotTold != nil || len(told.Told) != 1 || rec.got["web/rel"][1].Deactivated {
		t.Fatalf("told again: %+v %+v", told, rec.got["web/rel"])
	}
	if told := (Admin{Store: s}).Tell(ctx, o.Witness, "ada"); told.NotTold == nil || len(told.Missed) != 1 {
		t.Fatalf("no Temporal client: %+v", told)
	}
}
