package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/uptrace/bun"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
)

// TemplateRow is one version of an approval template.
type TemplateRow struct {
	bun.BaseModel `bun:"table:templates"`

	Name      string    `bun:"name,pk"`
	Version   int       `bun:"version,pk"`
	Body      string    `bun:"body,notnull"` // canonical JSON of rules.Template
	CreatedBy string    `bun:"created_by,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// Template decodes the row's body.
func (r TemplateRow) Template() (rules.Template, error) {
	var t rules.Template
	if err := json.Unmarshal([]byte(r.Body), &t); err != nil {
		return t, fmt.Errorf("template %s v%d: %w", r.Name, r.Version, err)
	}
	return t, nil
}

// ApplyTemplate stores t as its name's next version unless the latest version is
// the same; it returns the version in force and whether it added one. The
// caller has validated t (rules.ValidateTemplate).
func (s *Store) ApplyTemplate(ctx context.Context, t rules.Template, by string) (int, bool, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return 0, false, fmt.Errorf("encode template: %w", err)
	}
	body, err := jcs.Transform(raw)
	if err != nil {
		return 0, false, fmt.Errorf("canonical template: %w", err)
	}
	var version int
	added := false
	err = s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockChain(ctx, tx); err != nil {
			return err
		}
		var latest []TemplateRow
		if err := tx.NewSelect().Model(&latest).Where("name = ?", t.Name).Order("version DESC").Limit(1).Scan(ctx); err != nil {
			return fmt.Errorf("read template %s: %w", t.Name, err)
		}
		if len(latest) == 1 && latest[0].Body == string(body) {
			version = latest[0].Version
			return nil
		}
		version, added = 1, true
		if len(latest) == 1 {
			version = latest[0].Version + 1
		}
		now := time.Now().UTC()
		row := TemplateRow{Name: t.Name, Version: version, Body: string(body), CreatedBy: by, CreatedAt: now}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return fmt.Errorf("save template %s v%d: %w", t.Name, version, err)
		}
		_, _, err := s.appendCustody(ctx, tx, NewEvent{Type: custody.TypeTemplateApplied, Actor: by, OccurredAt: now,
			IdempotencyKey: fmt.Sprintf("template/%s/%d", t.Name, version),
			Data:           map[string]any{"name": t.Name, "version": version, "template": json.RawMessage(body), "by": by}})
		return err
	})
	return version, added, err
}

// GetTemplate returns a template's version, or its latest when version is 0.
func (s *Store) GetTemplate(ctx context.Context, name string, version int) (TemplateRow, error) {
	var r TemplateRow
	q := s.DB.NewSelect().Model(&r).Where("name = ?", name)
	if version > 0 {
		q = q.Where("version = ?", version)
	} else {
		q = q.Order("version DESC").Limit(1)
	}
	if err := q.Scan(ctx); err != nil {
		return r, notFound(err, "template "+name)
	}
	return r, nil
}

// ListTemplates returns the latest version of every template, by name.
func (s *Store) ListTemplates(ctx context.Context) ([]TemplateRow, error) {
	var all []TemplateRow
	if err := s.DB.NewSelect().Model(&all).Order("name ASC", "version DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	var out []TemplateRow
	for _, r := range all {
		if len(out) == 0 || out[len(out)-1].Name != r.Name {
			out = append(out, r)
		}
	}
	return out, nil
}

// Directory returns every person as templates see them.
func (s *Store) Directory(ctx context.Context) ([]rules.Person, error) {
	return directoryOf(ctx, s.DB)
}

// directoryOf reads the directory through db: the store's pool, or a
// transaction that must see it as it writes.
func directoryOf(ctx context.Context, db bun.IDB) ([]rules.Person, error) {
	var ws []Witness
	if err := db.NewSelect().Model(&ws).Order("display_name ASC", "id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("read the directory: %w", err)
	}
	out := make([]rules.Person, len(ws))
	for i, w := range ws {
		out[i] = rules.Person{ID: w.ID, Roles: w.Roles, Active: w.Active()}
	}
	return out, nil
}
