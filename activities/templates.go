package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Resolved is the result of ResolveTemplate: the completed spec, or why it
// cannot be (a refusal for people; not an error, which would be retried).
type Resolved struct {
	Spec    contract.Spec `json:"spec"`
	Problem string        `json:"problem,omitempty"`
}

// ResolveTemplate completes a spec that names a template and lists no witnesses
// (a cluster Ceremony may) from the template and the directory as they are now,
// after checking that the initiator may open ceremonies from it.
func (a *Activities) ResolveTemplate(ctx context.Context, spec contract.Spec) (Resolved, error) {
	ref := spec.Template
	row, err := a.Store.GetTemplate(ctx, ref.Name, ref.Version)
	if errors.Is(err, store.ErrNotFound) {
		return Resolved{Problem: fmt.Sprintf("there is no template %q (version %d)", ref.Name, ref.Version)}, nil
	}
	if err != nil {
		return Resolved{}, err
	}
	t, err := row.Template()
	if err != nil {
		return Resolved{}, err
	}
	dir, err := a.Store.Directory(ctx)
	if err != nil {
		return Resolved{}, err
	}
	if !rules.MayOpen(t, person(dir, spec.Initiator)) {
		return Resolved{Problem: fmt.Sprintf("%s may not open ceremonies from template %s (it allows %v and admins)", spec.Initiator, t.Name, t.OpenedBy)}, nil
	}
	if why := rules.TemplateMisfit(t, spec); why != "" {
		return Resolved{Problem: why}, nil
	}
	return Resolved{Spec: rules.Resolve(t, row.Version, dir, spec)}, nil
}

func person(dir []rules.Person, id string) rules.Person {
	for _, p := range dir {
		if p.ID == id {
			return p
		}
	}
	return rules.Person{ID: id}
}
