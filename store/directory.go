package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
)

// The directory: every change to a person is one transaction that writes the
// row and a custody event naming who made it ("by": an admin's id, "cli:<user>",
// "idp" for a login's sync).

// ErrExists means a witness with the id is already in the directory.
var ErrExists = errors.New("already exists")

// ErrIdentityConflict means a login would provision a person under an id that
// the directory already holds for someone bound to another identity.
var ErrIdentityConflict = errors.New("identity conflict")

// NewPerson is a person an admin adds.
type NewPerson struct {
	ID          string
	DisplayName string
	Email       string
	Roles       []string // given by the admin
}

// AddWitness adds a person to the directory. An id in use is ErrExists.
func (s *Store) AddWitness(ctx context.Context, p NewPerson, by string) (Witness, error) {
	now := time.Now().UTC()
	w := Witness{ID: p.ID, DisplayName: p.DisplayName, Email: p.Email, AdminRoles: sortedSet(p.Roles), IdPRoles: []string{},
		Credentials: []Credential{}, CreatedAt: now, UpdatedAt: now}
	if w.DisplayName == "" {
		w.DisplayName = w.ID
	}
	w.Roles = w.EffectiveRoles()
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		if n, err := tx.NewSelect().Model((*Witness)(nil)).Where("id = ?", w.ID).Count(ctx); err != nil {
			return fmt.Errorf("look up witness %s: %w", w.ID, err)
		} else if n > 0 {
			return fmt.Errorf("witness %s: %w", w.ID, ErrExists)
		}
		if _, err := tx.NewInsert().Model(&w).Exec(ctx); err != nil {
			return fmt.Errorf("add witness %s: %w", w.ID, err)
		}
		return s.directoryEvent(ctx, tx, custody.TypeWitnessAdded, w.ID, by, now,
			map[string]any{"name": w.DisplayName, "email": w.Email, "roles": w.AdminRoles})
	})
	return w, err
}

// EnsureWitness adds the person unless the directory has them already (seeding).
func (s *Store) EnsureWitness(ctx context.Context, p NewPerson, by string) error {
	_, err := s.AddWitness(ctx, p, by)
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}

// PersonChange is an admin's edit: nil fields stay as they are. Roles replaces
// the roles an admin gave; those from the identity provider are not an admin's
// to change (they follow the person's groups at every login).
type PersonChange struct {
	DisplayName *string
	Email       *string
	Roles       *[]string
}

// ChangeWitness applies an admin's edit and records what changed in words; it
// reports whether anything did (an edit to the values held changes nothing
// and writes no custody event). It refuses, as a rules.Problems on "roles", a
// change of roles that leaves the directory without an active admin.
func (s *Store) ChangeWitness(ctx context.Context, id string, ch PersonChange, by string) (Witness, bool, error) {
	var w Witness
	changed := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if w, err = s.lockWitness(ctx, tx, id); err != nil {
			return err
		}
		var changes []string
		if ch.DisplayName != nil && *ch.DisplayName != w.DisplayName {
			changes = append(changes, fmt.Sprintf("name %q → %q", w.DisplayName, *ch.DisplayName))
			w.DisplayName = *ch.DisplayName
		}
		if ch.Email != nil && *ch.Email != w.Email {
			changes = append(changes, fmt.Sprintf("e-mail %q → %q", w.Email, *ch.Email))
			w.Email = *ch.Email
		}
		if ch.Roles != nil {
			if roles := sortedSet(*ch.Roles); !slices.Equal(roles, w.AdminRoles) {
				changes = append(changes, fmt.Sprintf("roles given by an admin [%s] → [%s]", strings.Join(w.AdminRoles, ", "), strings.Join(roles, ", ")))
				w.AdminRoles = roles
				if err := s.keepsAnAdmin(ctx, tx, w, "roles"); err != nil {
					return err
				}
			}
		}
		if len(changes) == 0 {
			return nil
		}
		changed = true
		return s.saveDirectory(ctx, tx, &w, custody.TypeWitnessChanged, by, map[string]any{"changes": changes})
	})
	if err != nil {
		return Witness{}, false, err
	}
	return w, changed, nil
}

// SetWitnessActive deactivates or reactivates a person; setting the state they
// are in changes nothing. It reports whether it changed anything. A
// deactivation is refused as rules.Problems: by rules.CheckDeactivation (a
// reason; not oneself), and on "id" when it would leave no active admin.
func (s *Store) SetWitnessActive(ctx context.Context, id string, active bool, by, reason string) (Witness, bool, error) {
	if !active {
		if ps := rules.CheckDeactivation(id, by, reason); len(ps) > 0 {
			return Witness{}, false, ps
		}
	}
	var w Witness
	changed := false
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if w, err = s.lockWitness(ctx, tx, id); err != nil {
			return err
		}
		if w.Active() == active {
			return nil
		}
		changed = true
		typ := custody.TypeWitnessReactivated
		if active {
			w.DeactivatedAt = nil
		} else {
			now := time.Now().UTC()
			w.DeactivatedAt, typ = &now, custody.TypeWitnessDeactivated
			if err := s.keepsAnAdmin(ctx, tx, w, "id"); err != nil {
				return err
			}
			// Their sessions and tokens end with it, for good: reactivated,
			// they log in again and make new tokens.
			if _, err := s.endWebSessions(ctx, tx, id, "", "", "", by, EndDeactivated, now); err != nil {
				return err
			}
		}
		return s.saveDirectory(ctx, tx, &w, typ, by, map[string]any{"reason": reason})
	})
	return w, changed, err
}

// Identity is who the identity provider says logged in.
type Identity struct {
	Issuer, Subject string
	Email           string // verified only; "" otherwise
	Name            string
}

// Key is the identity as the directory binds it.
func (i Identity) Key() string { return i.Issuer + " " + i.Subject }

// SyncIdentity finds the person an identity belongs to and replaces the roles
// that came from the identity provider with idpRoles. The match is the subject
// bound to a record at its first verified login; failing that, a record whose
// id is the verified e-mail or the subject, or whose e-mail is the verified
// e-mail, gets the binding. With no match, provision adds the person (their
// claims mapped to a role); otherwise ErrNotFound: they may read but not sign.
func (s *Store) SyncIdentity(ctx context.Context, id Identity, idpRoles []string, provision bool) (Witness, error) {
	var w Witness
	err := s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		found, err := s.findIdentity(ctx, tx, id)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		key := id.Key()
		roles := sortedSet(idpRoles)
		if found == nil {
			if !provision {
				return fmt.Errorf("no witness for %s: %w", key, ErrNotFound)
			}
			wid := id.Email
			if wid == "" {
				wid = id.Subject
			}
			// The id is taken by a record bound to another identity: never
			// hand it over, and never make a second person with the same id.
			if n, err := tx.NewSelect().Model((*Witness)(nil)).Where("id = ?", wid).Count(ctx); err != nil {
				return fmt.Errorf("look up witness %s: %w", wid, err)
			} else if n > 0 {
				return fmt.Errorf("%s is in the directory under another identity than %s: %w", wid, key, ErrIdentityConflict)
			}
			w = Witness{ID: wid, DisplayName: id.Name, Email: id.Email, AdminRoles: []string{}, IdPRoles: roles,
				Credentials: []Credential{}, Identity: &key, SyncedAt: &now, CreatedAt: now, UpdatedAt: now}
			if w.DisplayName == "" {
				w.DisplayName = wid
			}
			w.Roles = w.EffectiveRoles()
			if _, err := tx.NewInsert().Model(&w).Exec(ctx); err != nil {
				return fmt.Errorf("provision witness %s: %w", wid, err)
			}
			return s.directoryEvent(ctx, tx, custody.TypeWitnessAdded, w.ID, "idp", now,
				map[string]any{"name": w.DisplayName, "email": w.Email, "identityProviderRoles": roles, "identity": key})
		}
		w = *found
		bind := w.Identity == nil
		if slices.Equal(roles, w.IdPRoles) && !bind {
			_, err := tx.NewUpdate().Model((*Witness)(nil)).Set("synced_at = ?", now).Where("id = ?", w.ID).Exec(ctx)
			w.SyncedAt = &now
			return err
		}
		data := map[string]any{"from": w.IdPRoles, "to": roles}
		if bind {
			data["identity"] = key
		}
		w.IdPRoles, w.Identity, w.SyncedAt = roles, &key, &now
		return s.saveDirectory(ctx, tx, &w, custody.TypeWitnessSynced, "idp", data)
	})
	return w, err
}

func (s *Store) findIdentity(ctx context.Context, tx bun.Tx, id Identity) (*Witness, error) {
	var ws []Witness
	if err := tx.NewSelect().Model(&ws).Where("identity = ?", id.Key()).Limit(1).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	if len(ws) == 1 {
		return &ws[0], nil
	}
	// Not bound yet: a record made for this person by an admin, with no other
	// identity bound to it already.
	q := tx.NewSelect().Model(&ws).Where("identity IS NULL").WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("id = ?", id.Subject)
		if id.Email != "" {
			q = q.WhereOr("id = ?", id.Email).WhereOr("lower(email) = lower(?)", id.Email)
		}
		return q
	}).OrderExpr("id ASC").Limit(1)
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("find witness for identity: %w", err)
	}
	if len(ws) == 1 {
		return &ws[0], nil
	}
	return nil, nil
}

// keepsAnAdmin refuses, as a problem on field, a change after which nobody
// active holds the admin role; after is the person as the change leaves them.
// It reads the directory inside the change's transaction, after the chain lock
// every directory change takes (lockWitness), so two changes made at once (two
// admins each removing the other) cannot both pass it.
func (s *Store) keepsAnAdmin(ctx context.Context, tx bun.Tx, after Witness, field string) error {
	dir, err := directoryOf(ctx, tx)
	if err != nil {
		return err
	}
	if err := rules.KeepsAnAdmin(dir, rules.Person{ID: after.ID, Roles: after.EffectiveRoles(), Active: after.Active()}); err != nil {
		return rules.Problems{{Field: field, Message: err.Error()}}
	}
	return nil
}

// saveDirectory writes a person's directory fields and the custody event.
func (s *Store) saveDirectory(ctx context.Context, tx bun.Tx, w *Witness, typ, by string, data map[string]any) error {
	now := time.Now().UTC()
	w.Roles, w.UpdatedAt = w.EffectiveRoles(), now
	if _, err := tx.NewUpdate().Model(w).
		Column("display_name", "email", "roles", "admin_roles", "idp_roles", "deactivated_at", "identity", "synced_at", "updated_at").
		WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("save witness %s: %w", w.ID, err)
	}
	data["roles"] = w.Roles
	return s.directoryEvent(ctx, tx, typ, w.ID, by, now, data)
}

func (s *Store) directoryEvent(ctx context.Context, tx bun.Tx, typ, id, by string, at time.Time, data map[string]any) error {
	data["witnessId"], data["by"] = id, by
	_, _, err := s.appendCustody(ctx, tx, NewEvent{Type: typ, Actor: by, OccurredAt: at, Data: data,
		IdempotencyKey: fmt.Sprintf("directory/%s/%s/%d", id, typ, at.UnixNano())})
	return err
}

// sortedSet trims, drops empty and repeated roles, and sorts.
func sortedSet(in []string) []string {
	out := []string{}
	for _, r := range in {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
