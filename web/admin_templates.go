package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Approval templates: admins write them as YAML (or JSON) on the page, as
// `guildhall template apply -f` reads them; each save that changes anything is
// the template's next version, on the custody chain.

type templateListRow struct {
	Row store.TemplateRow
	T   rules.Template
}

func (a *App) adminTemplates(w http.ResponseWriter, r *http.Request) {
	rows, err := a.store.ListTemplates(r.Context())
	if err != nil {
		a.dbError(w, r, "admin: list templates", err)
		return
	}
	var v []templateListRow
	for _, row := range rows {
		v = append(v, templateListRow{Row: row, T: a.templateOf(row)})
	}
	a.render(w, r, http.StatusOK, adminTemplatesPage(a.meta(r, "Templates"), v))
}

// templateView is a template's page (a version of it, its versions and the
// edit form), or the form for a new one.
type templateView struct {
	New      bool
	Name     string
	Row      store.TemplateRow // the version shown
	T        rules.Template
	YAML     string
	Versions []store.TemplateRow
	// Text is the edit form's text; Problems and Error why it was refused.
	Text     string
	Problems rules.Problems
	Error    string
	Notice   string
}

func (v templateView) latest() int {
	if len(v.Versions) == 0 {
		return 0
	}
	return v.Versions[0].Version
}

func (v templateView) refused() bool { return v.Error != "" || len(v.Problems) > 0 }

func (a *App) adminTemplateNew(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, adminTemplatePage(a.meta(r, "New template"), templateView{New: true, Text: templateStarter}))
}

// templateStarter is the new-template form's text: every field, explained.
const templateStarter = `# An approval team: who witnesses ceremonies of one kind, and how many must approve.
name: change-me              # lowercase letters, digits and dashes
description: Release an artifact to production.
kind: release                # release, key-rotation or ratification
witnesses:
  roles: [security, release] # everyone active in the directory with one of these roles when a ceremony opens
  people: []                 # and these people, e.g. - {id: alice@example.org, role: security}
quorum:
  threshold: 2               # approvals needed overall
  roles: {security: 1}       # at least this many from each role
  veto: [security]           # one reject from these roles ends the ceremony
  minAssurance: session      # the weakest signature accepted: operator, token, session or key
deadline: 3d                 # how long a ceremony stays open, e.g. 72h or 7d
openedBy: [release]          # roles or people who may open ceremonies from it (admins always may)
`

func (a *App) adminTemplate(w http.ResponseWriter, r *http.Request) {
	v, ok := a.loadTemplate(w, r, pathParam(r, "name"))
	if !ok {
		return
	}
	switch r.URL.Query().Get("done") {
	case "saved":
		v.Notice = "Saved as version " + itoa(v.latest()) + ". Ceremonies opened from now on use it; open ones keep the version they were opened with."
	case "unchanged":
		v.Notice = "Nothing changed: version " + itoa(v.latest()) + " is the same."
	}
	a.render(w, r, http.StatusOK, adminTemplatePage(a.meta(r, "Template "+v.Name), v))
}

// The page and the API read and save templates alike: templateAt finds the
// version asked for, templateProblems checks what is to be saved, and
// saveTemplate saves it.

// errNoVersion: the template has no version of the number asked for.
var errNoVersion = errors.New("no such version")

// templateAt reads a template's versions, newest first, and the one asked for
// (0: the latest). An unknown name is store.ErrNotFound, an unknown version
// errNoVersion.
func (a *App) templateAt(ctx context.Context, name string, version int) ([]store.TemplateRow, store.TemplateRow, error) {
	rows, err := a.store.TemplateVersions(ctx, name)
	if err != nil {
		return nil, store.TemplateRow{}, err
	}
	if version == 0 {
		return rows, rows[0], nil
	}
	i := slices.IndexFunc(rows, func(row store.TemplateRow) bool { return row.Version == version })
	if i < 0 {
		return rows, store.TemplateRow{}, errNoVersion
	}
	return rows, rows[i], nil
}

// templateOf decodes a stored template; one that does not decode is logged
// and shown empty rather than failing its page.
func (a *App) templateOf(row store.TemplateRow) rules.Template {
	t, err := row.Template()
	if err != nil {
		a.log.Error("a stored template does not decode", "template", row.Name, "version", row.Version, "err", err)
	}
	return t
}

// templateProblems checks t, to be saved as template name ("" for a new one,
// named by its text): a template that leaves its name out takes name, and a
// template's name never changes.
func templateProblems(t *rules.Template, name string) rules.Problems {
	if t.Name == "" {
		t.Name = name
	}
	ps := rules.ValidateTemplate(*t)
	if name != "" && t.Name != name {
		ps = append(ps, rules.Problem{Field: "name", Message: fmt.Sprintf(
			"this is template %s and its name stays; to make a template named %q, add a new one", name, rules.Clip(t.Name))})
	}
	return ps
}

// saveTemplate saves a checked template as the next version of its name,
// unless it is the same as the latest.
func (a *App) saveTemplate(ctx context.Context, t rules.Template, by string) (version int, added bool, err error) {
	version, added, err = a.store.ApplyTemplate(ctx, t, by)
	if err == nil && added {
		a.log.Info("template saved", "template", t.Name, "version", version, "by", by)
	}
	return version, added, err
}

// loadTemplate reads a template's versions and the one asked for (?version=N,
// else the latest), or answers for the caller.
func (a *App) loadTemplate(w http.ResponseWriter, r *http.Request, name string) (templateView, bool) {
	v := templateView{Name: name}
	n, _ := strconv.Atoi(r.URL.Query().Get("version"))
	var err error
	v.Versions, v.Row, err = a.templateAt(r.Context(), name, n)
	switch {
	case errors.Is(err, errNoVersion):
		a.errorPage(w, r, http.StatusNotFound, "No such version", fmt.Sprintf("Template %s has no version %d.", name, n))
		return v, false
	case isNotFound(err):
		a.errorPage(w, r, http.StatusNotFound, "No such template", "There is no template named "+name+". Templates are listed under Admin → Templates.")
		return v, false
	case err != nil:
		a.dbError(w, r, "admin: template versions", err)
		return v, false
	}
	v.T = a.templateOf(v.Row)
	y, err := rules.TemplateYAML(v.T)
	if err != nil {
		a.log.Error("admin: template as YAML", "template", name, "err", err)
	}
	v.YAML, v.Text = string(y), string(y)
	return v, true
}

// adminTemplateApply saves the form's template as the next version of its
// name (POST /admin/templates/new for a new name).
func (a *App) adminTemplateApply(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	name := pathParam(r, "name")
	text := r.PostFormValue("template")
	v := templateView{New: name == "", Name: name, Text: text}
	if !v.New {
		var ok bool
		if v, ok = a.loadTemplate(w, r, name); !ok {
			return
		}
		v.Text = text
	}
	t, err := rules.ParseTemplate([]byte(text))
	if err != nil {
		v.Error = err.Error()
		a.renderTemplateForm(w, r, v)
		return
	}
	v.Problems = templateProblems(&t, name)
	if v.New && len(v.Problems.On("name")) == 0 {
		if _, err := a.store.GetTemplate(r.Context(), t.Name, 0); err == nil {
			v.Problems = append(v.Problems, rules.Problem{Field: "name", Message: "a template named " + t.Name + " exists: edit it instead"})
		} else if !errors.Is(err, store.ErrNotFound) {
			a.dbError(w, r, "admin: look up template", err)
			return
		}
	}
	if len(v.Problems) > 0 {
		a.renderTemplateForm(w, r, v)
		return
	}
	_, added, err := a.saveTemplate(r.Context(), t, me.ID)
	if err != nil {
		a.dbError(w, r, "admin: apply template", err)
		return
	}
	done := "unchanged"
	if added {
		done = "saved"
	}
	http.Redirect(w, r, "/admin/templates/"+url.PathEscape(t.Name)+"?done="+done, http.StatusSeeOther)
}

func (a *App) renderTemplateForm(w http.ResponseWriter, r *http.Request, v templateView) {
	title := "New template"
	if !v.New {
		title = "Template " + v.Name
	}
	a.render(w, r, http.StatusUnprocessableEntity, adminTemplatePage(a.meta(r, title), v))
}

// templateWitnessWords says whom a template makes witnesses: everyone the
// directory lists with its roles when a ceremony opens, and the people it
// names (with the role they witness in). The admin pages and the composer say
// it alike.
func templateWitnessWords(t rules.Template) string {
	var parts []string
	if len(t.Witnesses.Roles) > 0 {
		parts = append(parts, "everyone the directory lists as "+orList(t.Witnesses.Roles)+" when a ceremony opens")
	}
	for _, w := range t.Witnesses.People {
		s := w.ID
		if w.Role != "" {
			s += " (" + w.Role + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return andList(parts)
}

// templateQuorumWords says a template's policy.
func templateQuorumWords(t rules.Template) string {
	return plural(t.Quorum.Threshold, "approval", "approvals") + quorumTerms(t.Quorum)
}

// templateAssuranceWords says how a template's witnesses must sign.
func templateAssuranceWords(t rules.Template) string {
	if t.Quorum.MinAssurance == "" {
		return "any (no minimum)"
	}
	return string(t.Quorum.MinAssurance) + " or stronger"
}

func templateDeadlineWords(t rules.Template) string {
	if t.Deadline == "" {
		return itoa(int(rules.DefaultDeadline.Hours())) + "h (the default)"
	}
	return t.Deadline
}

func templateURL(name string, version int) string {
	u := "/admin/templates/" + url.PathEscape(name)
	if version > 0 {
		u += "?version=" + strconv.Itoa(version)
	}
	return u
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}
