package store_test

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

// TestSyncIdentity: a login provisions a person whose claims map to a role,
// re-syncs the provider's roles at every login and keeps an admin's; the
// binding decides later logins; an id held for another identity is never
// handed over.
func TestSyncIdentity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		newcomer := store.Identity{Issuer: "https://id.example", Subject: "kc-1", Email: "nia@example.org", Name: "Nia Newcomer"}
		if _, err := s.SyncIdentity(ctx, newcomer, nil, false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unmapped and unknown: %v, want ErrNotFound", err)
		}
		w, err := s.SyncIdentity(ctx, newcomer, []string{"security"}, true)
		if err != nil || w.ID != "nia@example.org" || !slices.Equal(w.IdPRoles, []string{"security"}) || len(w.AdminRoles) != 0 || w.Identity == nil {
			t.Fatalf("first login: %+v %v", w, err)
		}
		if _, _, err := s.ChangeWitness(ctx, w.ID, store.PersonChange{Roles: &[]string{"release"}}, "ada"); err != nil {
			t.Fatal(err)
		}
		w, err = s.SyncIdentity(ctx, newcomer, []string{"security", "legal"}, true)
		if err != nil || !slices.Equal(w.IdPRoles, []string{"legal", "security"}) || !slices.Equal(w.Roles, []string{"legal", "release", "security"}) {
			t.Fatalf("group added: %+v %v", w, err)
		}
		if w.RoleSource("release") != "admin" || w.RoleSource("legal") != "idp" {
			t.Fatalf("sources: release %q legal %q", w.RoleSource("release"), w.RoleSource("legal"))
		}
		// Every group gone: still found through the binding (no provisioning
		// needed), provider roles emptied, the admin's kept.
		w, err = s.SyncIdentity(ctx, newcomer, nil, false)
		if err != nil || len(w.IdPRoles) != 0 || !slices.Equal(w.Roles, []string{"release"}) {
			t.Fatalf("groups removed: %+v %v", w, err)
		}
		// Another subject with the same verified e-mail is not Nia.
		other := store.Identity{Issuer: newcomer.Issuer, Subject: "kc-2", Email: "nia@example.org"}
		if _, err := s.SyncIdentity(ctx, other, []string{"security"}, true); !errors.Is(err, store.ErrIdentityConflict) {
			t.Fatalf("another identity with Nia's e-mail: %v, want ErrIdentityConflict", err)
		}
		if got, _ := s.GetWitness(ctx, "nia@example.org"); *got.Identity != newcomer.Key() {
			t.Fatalf("binding changed to %q", *got.Identity)
		}
		// An admin's record is bound at the person's first login.
		if _, err := s.AddWitness(ctx, store.NewPerson{ID: "omar@example.org", Email: "omar@example.org", Roles: []string{"admin"}}, "cli:root"); err != nil {
			t.Fatal(err)
		}
		w, err = s.SyncIdentity(ctx, store.Identity{Issuer: newcomer.Issuer, Subject: "kc-3", Email: "Omar@example.org"}, nil, false)
		if err != nil || w.ID != "omar@example.org" || !slices.Equal(w.Roles, []string{"admin"}) {
			t.Fatalf("admin-made record: %+v %v", w, err)
		}
		verifyChain(t, s)
	})
}

// TestKeepsAnAdminAtOnce: two admins each removing the other's standing (or
// their own role) at the same moment leave the directory one active admin:
// the store checks inside the transaction that writes the change.
func TestKeepsAnAdminAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admins := []string{"ada", "bob"}
		for _, id := range admins {
			if _, err := s.AddWitness(ctx, store.NewPerson{ID: id, Roles: []string{rules.RoleAdmin}}, "cli:root"); err != nil {
				t.Fatal(err)
			}
		}
		// Both at once; exactly one must be refused, on field.
		both := func(what, field string, change func(id string) error) {
			t.Helper()
			errs := make([]error, len(admins))
			var wg sync.WaitGroup
			for i, id := range admins {
				wg.Go(func() { errs[i] = change(id) })
			}
			wg.Wait()
			refused := 0
			for _, err := range errs {
				var ps rules.Problems
				switch {
				case err == nil:
				case errors.As(err, &ps) && len(ps.On(field)) == 1 && strings.Contains(err.Error(), "last active admin"):
					refused++
				default:
					t.Fatalf("%s: %v", what, err)
				}
			}
			dir, err := s.Directory(ctx)
			if err != nil {
				t.Fatal(err)
			}
			active := 0
			for _, p := range dir {
				if p.Active && slices.Contains(p.Roles, rules.RoleAdmin) {
					active++
				}
			}
			if refused != 1 || active != 1 {
				t.Fatalf("%s: %d refused, %d active admins left (%v); want 1 and 1", what, refused, active, errs)
			}
		}
		for range 10 {
			both("deactivating both", "id", func(id string) error {
				_, _, err := s.SetWitnessActive(ctx, id, false, "cli:root", "leaving")
				return err
			})
			for _, id := range admins {
				if _, _, err := s.SetWitnessActive(ctx, id, true, "cli:root", ""); err != nil {
					t.Fatal(err)
				}
			}
			both("taking both admin roles", "roles", func(id string) error {
				_, _, err := s.ChangeWitness(ctx, id, store.PersonChange{Roles: &[]string{}}, "cli:root")
				return err
			})
			for _, id := range admins {
				if _, _, err := s.ChangeWitness(ctx, id, store.PersonChange{Roles: &[]string{rules.RoleAdmin}}, "cli:root"); err != nil {
					t.Fatal(err)
				}
			}
		}
		verifyChain(t, s)
	})
}

func TestOpenCeremoniesListingAndTemplateVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b, c := spec("default/a"), spec("default/b"), spec("default/c")
		b.Witnesses = []contract.WitnessRef{{ID: "alice_x"}, {ID: "carol"}}
		for i, sp := range []contract.Spec{a, b, c} {
			if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "w" + sp.ID, OpenedAt: t0.Add(timeStep(i))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordStatus(ctx, c.ID, store.StatusChange{Status: contract.StatusCancelled, At: t0.Add(timeStep(5))}); err != nil {
			t.Fatal(err)
		}
		got, err := s.OpenCeremoniesListing(ctx, "alice")
		if err != nil || !slices.Equal(got, []string{"default/a"}) {
			t.Fatalf("open ceremonies listing alice = %v %v (b lists alice_x, c is closed)", got, err)
		}
		if got, _ := s.OpenCeremoniesListing(ctx, "nobody"); got == nil || len(got) != 0 {
			t.Fatalf("nobody: %#v", got)
		}

		if _, err := s.TemplateVersions(ctx, "release"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no template: %v", err)
		}
		tpl := rules.Template{Name: "release", Kind: contract.KindRelease, Witnesses: rules.TemplateWitnesses{Roles: []string{"security"}},
			Quorum: contract.Quorum{Threshold: 1}, OpenedBy: []string{"release"}}
		for _, th := range []int{1, 2, 2} {
			tpl.Quorum.Threshold = th
			if _, _, err := s.ApplyTemplate(ctx, tpl, "ada"); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := s.TemplateVersions(ctx, "release")
		if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 1 {
			t.Fatalf("versions: %+v %v", vs, err)
		}
	})
}

func timeStep(i int) time.Duration { return time.Duration(i) * time.Minute }
