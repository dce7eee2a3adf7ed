// Package directory makes the changes to the directory of people that reach
// beyond one row, the same way from the web pages, the JSON API and the CLI:
// every entry is checked by the rules package (and the directory always keeps
// an active admin), and a person's deactivation or reactivation is told to
// every open ceremony that lists them. The store records each change with a
// custody event naming who made it.
package directory

import (
	"context"
	"errors"
	"slices"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Store is what the directory reads and writes; *store.Store is one.
type Store interface {
	AddWitness(ctx context.Context, p store.NewPerson, by string) (store.Witness, error)
	ChangeWitness(ctx context.Context, id string, ch store.PersonChange, by string) (store.Witness, bool, error)
	SetWitnessActive(ctx context.Context, id string, active bool, by, reason string) (store.Witness, bool, error)
	OpenCeremoniesListing(ctx context.Context, witnessID string) ([]string, error)
}

// Admin makes directory changes. Ceremonies may be nil when Temporal cannot be
// reached: the change still stands, and the outcome says who was not told.
type Admin struct {
	Store      Store
	Ceremonies ceremonyclient.Signaler
}

// Add adds a person with the roles an admin gives them. Problems with the
// entry come back as rules.Problems keyed by field ("id", "name", "email",
// "roles"); an id in use is store.ErrExists.
func (d Admin) Add(ctx context.Context, p rules.PersonFields, by string) (store.Witness, error) {
	if ps := rules.ValidatePerson(p); len(ps) > 0 {
		return store.Witness{}, ps
	}
	return d.Store.AddWitness(ctx, store.NewPerson{ID: p.ID, DisplayName: p.Name, Email: p.Email, Roles: p.Roles}, by)
}

// Change changes a person's name, e-mail or the roles an admin gave them (nil
// fields stay) and reports whether anything changed. Problems with the new
// values come back as rules.Problems keyed by field ("name", "email",
// "roles"); the store refuses, as a problem on "roles", a change that leaves
// the directory without an active admin (checked as it writes: a check here
// could race another admin's change).
func (d Admin) Change(ctx context.Context, id string, ch store.PersonChange, by string) (store.Witness, bool, error) {
	if ch.DisplayName != nil && *ch.DisplayName == "" { // as when added without a name
		ch.DisplayName = &id
	}
	if ps := changeProblems(id, ch); len(ps) > 0 {
		return store.Witness{}, false, ps
	}
	return d.Store.ChangeWitness(ctx, id, ch, by)
}

// changeProblems checks the fields an edit sets: each field's rule depends on
// that field alone, so the person's other values need not be read.
func changeProblems(id string, ch store.PersonChange) rules.Problems {
	p := rules.PersonFields{ID: id}
	var fields []string
	if ch.DisplayName != nil {
		p.Name, fields = *ch.DisplayName, append(fields, "name")
	}
	if ch.Email != nil {
		p.Email, fields = *ch.Email, append(fields, "email")
	}
	if ch.Roles != nil {
		p.Roles, fields = *ch.Roles, append(fields, "roles")
	}
	var ps rules.Problems
	for _, pr := range rules.ValidatePerson(p) {
		if slices.Contains(fields, pr.Field) {
			ps = append(ps, pr)
		}
	}
	return ps
}

// Outcome is what a deactivation or reactivation did.
type Outcome struct {
	Witness store.Witness
	// Changed is false when the person already was in that state.
	Changed bool
	// Open lists the open ceremonies that list the person, Told those that
	// were told and Missed those that could not be; NotTold says why.
	Reach
}

// Reach is whom a change of standing was told to.
type Reach struct {
	Open, Told, Missed []string
	NotTold            error
}

// SetActive deactivates (active false, with a reason) or reactivates a person,
// then tells the open ceremonies that list them. The store refuses, as
// rules.Problems, what rules.CheckDeactivation refuses (no reason, or one's
// own deactivation) and deactivating the last active admin. Telling the
// ceremonies is best effort: the change stands either way, and
// Outcome.NotTold says what was missed.
func (d Admin) SetActive(ctx context.Context, id string, active bool, by, reason string) (Outcome, error) {
	w, changed, err := d.Store.SetWitnessActive(ctx, id, active, by, reason)
	if err != nil {
		return Outcome{}, err
	}
	o := Outcome{Witness: w, Changed: changed}
	if changed {
		o.Reach = d.Tell(ctx, w, by)
	}
	return o, nil
}

// Tell tells every open ceremony listing the person their standing as it is
// now (again: ceremonies that heard already change nothing).
func (d Admin) Tell(ctx context.Context, w store.Witness, by string) Reach {
	open, err := d.Store.OpenCeremoniesListing(ctx, w.ID)
	if err != nil {
		return Reach{NotTold: err}
	}
	t := Reach{Open: open, Told: []string{}, Missed: []string{}}
	switch {
	case len(open) == 0:
	case d.Ceremonies == nil:
		t.Missed, t.NotTold = open, errors.New("Temporal could not be reached")
	default:
		at := w.UpdatedAt
		if w.DeactivatedAt != nil {
			at = *w.DeactivatedAt
		}
		t.Told, t.Missed, t.NotTold = ceremonyclient.TellDirectoryChanged(ctx, d.Ceremonies, open, ceremonyclient.DirectoryChange(w.ID, !w.Active(), at, by))
	}
	return t
}
