package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/directory"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// The admin pages keep the directory of people and the approval templates.
// Every route is behind requireAdmin (authz.go); every change goes through the
// directory package (people) or rules.ValidateTemplate (templates), as the
// JSON API and the CLI do, and the store records it on the custody chain with
// the admin's id.

// AdminStore is what the admin pages and API read and write; *store.Store has it.
type AdminStore interface {
	directory.Store
	ListTemplates(ctx context.Context) ([]store.TemplateRow, error)
	GetTemplate(ctx context.Context, name string, version int) (store.TemplateRow, error)
	TemplateVersions(ctx context.Context, name string) ([]store.TemplateRow, error)
	ApplyTemplate(ctx context.Context, t rules.Template, by string) (int, bool, error)
}

func (a *App) adminRoutes(r chi.Router) {
	r.Use(a.requireAdmin)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/witnesses", http.StatusSeeOther)
	})
	r.Get("/witnesses", a.adminWitnesses)
	r.Get("/witnesses/new", a.adminWitnessNew)
	r.Post("/witnesses/new", a.adminWitnessAdd)
	r.Get("/witnesses/{id}", a.adminWitness)
	r.Post("/witnesses/{id}", a.adminWitnessSave)
	r.Post("/witnesses/{id}/deactivate", a.adminWitnessActive(false))
	r.Post("/witnesses/{id}/reactivate", a.adminWitnessActive(true))
	r.Post("/witnesses/{id}/tell", a.adminWitnessTell)
	r.Get("/templates", a.adminTemplates)
	r.Get("/templates/new", a.adminTemplateNew)
	r.Post("/templates/new", a.adminTemplateApply)
	r.Get("/templates/{name}", a.adminTemplate)
	r.Post("/templates/{name}", a.adminTemplateApply)
}

// directory is how the app changes the directory: Temporal, when it answers,
// hears of every change of a person's standing.
func (a *App) directory() directory.Admin {
	return directory.Admin{Store: a.store, Ceremonies: a.cer}
}

// pathParam reads a route parameter; ids may hold characters that travel
// escaped ("/" in an identity provider's subject).
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if r.URL.RawPath != "" {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

func witnessAdminURL(id string) string { return "/admin/witnesses/" + url.PathEscape(id) }

// directoryQuery is the search of /admin/witnesses.
type directoryQuery struct {
	Q, Role, State string
	Page           int
}

const directoryPageSize = 100

func parseDirectoryQuery(q url.Values) directoryQuery {
	d := directoryQuery{Q: strings.TrimSpace(q.Get("q")), Role: q.Get("role"), State: q.Get("state"), Page: 1}
	if d.State != "active" && d.State != "deactivated" {
		d.State = ""
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 && p < 100_000 {
		d.Page = p
	}
	return d
}

// match says whether a person fits the search: the words in their id, name,
// e-mail or a role (any case), the role, the state.
func (d directoryQuery) match(w store.Witness) bool {
	switch {
	case d.Role != "" && !slices.Contains(w.Roles, d.Role):
		return false
	case d.State == "active" && !w.Active(), d.State == "deactivated" && w.Active():
		return false
	}
	hay := strings.ToLower(strings.Join(append([]string{w.ID, w.DisplayName, w.Email}, w.Roles...), " "))
	for _, word := range strings.Fields(strings.ToLower(d.Q)) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

func (d directoryQuery) url(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": d.Q, "role": d.Role, "state": d.State} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/admin/witnesses"
	}
	return "/admin/witnesses?" + v.Encode()
}

type adminWitnessesView struct {
	Q     directoryQuery
	Rows  []store.Witness
	Total int
	Pages int
	Roles []string // every role known, for the filter
}

func (a *App) adminWitnesses(w http.ResponseWriter, r *http.Request) {
	ws, err := a.store.ListWitnesses(r.Context())
	if err != nil {
		a.dbError(w, r, "admin: list witnesses", err)
		return
	}
	v := adminWitnessesView{Q: parseDirectoryQuery(r.URL.Query()), Roles: a.knownRoles(r.Context(), ws)}
	for _, wit := range ws {
		if v.Q.match(wit) {
			v.Rows = append(v.Rows, wit)
		}
	}
	v.Total = len(v.Rows)
	v.Pages = max(1, (v.Total+directoryPageSize-1)/directoryPageSize)
	v.Q.Page = min(v.Q.Page, v.Pages)
	v.Rows = v.Rows[(v.Q.Page-1)*directoryPageSize : min(v.Total, v.Q.Page*directoryPageSize)]
	a.render(w, r, http.StatusOK, adminWitnessesPage(a.meta(r, "Directory"), v))
}

// knownRoles are the roles held in the directory or named by a template, and
// admin: what an admin picks from.
func (a *App) knownRoles(ctx context.Context, ws []store.Witness) []string {
	roles := []string{rules.RoleAdmin}
	for _, w := range ws {
		roles = append(roles, w.Roles...)
	}
	if ts, err := a.store.ListTemplates(ctx); err == nil {
		for _, row := range ts {
			if t, err := row.Template(); err == nil {
				roles = append(roles, t.Witnesses.Roles...)
				for _, wr := range t.Witnesses.People {
					roles = append(roles, wr.Role)
				}
			}
		}
	}
	slices.Sort(roles)
	return slices.DeleteFunc(slices.Compact(roles), func(r string) bool { return rules.RoleOK(r) != nil })
}

// personForm is the add and edit form as typed.
type personForm struct {
	ID, Name, Email string
	Roles           []string // ticked
	MoreRoles       string   // typed
}

func readPersonForm(r *http.Request) personForm {
	_ = r.ParseForm()
	return personForm{ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Email: strings.TrimSpace(r.PostFormValue("email")), Roles: r.PostForm["role"], MoreRoles: r.PostFormValue("more_roles")}
}

// roles are the ticked and the typed roles together.
func (f personForm) roles() []string {
	out := []string{}
	for _, r := range append(slices.Clone(f.Roles), rules.ParseRoles(f.MoreRoles)...) {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// personView is the add form, or a person's page with its edit form.
type personView struct {
	New  bool
	W    store.Witness // the person (not New)
	F    personForm
	Errs fieldErrors
	// Known are the roles to tick; Open the open ceremonies listing them.
	Known  []string
	Open   []string
	Self   bool // the admin is looking at themselves
	Notice string
	Warn   string
	// Reason is the deactivation form's reason as typed.
	Reason string
}

// personLabels are the person form's labels, also used by the error list.
var personLabels = map[string]string{
	"id": "Id (e-mail address or the identity provider's subject)", "name": "Display name", "email": "E-mail",
	"roles": "Roles given by an admin", "reason": "Reason", "form": "The change",
}

func (v personView) errorList() []fieldError {
	var out []fieldError
	for _, name := range []string{"id", "name", "email", "roles", "reason", "form"} {
		if msg, ok := v.Errs[name]; ok {
			target := name
			if name == "roles" && len(v.Known) > 0 {
				target = "role-" + v.Known[0]
			}
			out = append(out, fieldError{Target: target, Label: strings.SplitN(personLabels[name], " (", 2)[0], Msg: msg})
		}
	}
	return out
}

func (a *App) adminWitnessNew(w http.ResponseWriter, r *http.Request) {
	v, err := a.personData(r.Context(), personView{New: true})
	if err != nil {
		a.dbError(w, r, "admin: add form", err)
		return
	}
	a.render(w, r, http.StatusOK, adminPersonPage(a.meta(r, "Add a person"), v))
}

// personData adds what the add and edit pages list.
func (a *App) personData(ctx context.Context, v personView) (personView, error) {
	ws, err := a.store.ListWitnesses(ctx)
	if err != nil {
		return v, err
	}
	v.Known = a.knownRoles(ctx, ws)
	for _, r := range v.F.roles() {
		if !slices.Contains(v.Known, r) && rules.RoleOK(r) == nil {
			v.Known = append(v.Known, r)
		}
	}
	if !v.New {
		if v.Open, err = a.store.OpenCeremoniesListing(ctx, v.W.ID); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (a *App) adminWitnessAdd(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	f := readPersonForm(r)
	p := rules.PersonFields{ID: f.ID, Name: f.Name, Email: f.Email, Roles: f.roles()}
	wit, err := a.directory().Add(r.Context(), p, me.ID)
	if err != nil {
		v := personView{New: true, F: f, Errs: fieldErrors{}}
		if !a.formProblems(w, r, err, v.Errs) {
			return
		}
		if errors.Is(err, store.ErrExists) {
			v.Errs["id"] = f.ID + " is already in the directory"
		}
		if v, err = a.personData(r.Context(), v); err != nil {
			a.dbError(w, r, "admin: add form", err)
			return
		}
		a.render(w, r, http.StatusUnprocessableEntity, adminPersonPage(a.meta(r, "Add a person"), v))
		return
	}
	a.log.Info("directory: person added", "witness", wit.ID, "roles", wit.AdminRoles, "by", me.ID)
	http.Redirect(w, r, witnessAdminURL(wit.ID)+"?done=added", http.StatusSeeOther)
}

// formProblems turns a refusal into field errors. Anything else (a database
// error) is answered here, and it returns false.
func (a *App) formProblems(w http.ResponseWriter, r *http.Request, err error, errs fieldErrors) bool {
	var ps rules.Problems
	switch {
	case errors.As(err, &ps):
		for _, p := range ps {
			if _, seen := errs[p.Field]; !seen {
				errs[p.Field] = p.Message
			}
		}
		return true
	case errors.Is(err, store.ErrExists):
		return true
	case errors.Is(err, store.ErrNotFound):
		a.errorPage(w, r, http.StatusNotFound, "No such person", "The directory has nobody with this id.")
		return false
	}
	a.dbError(w, r, "admin: directory change", err)
	return false
}

// loadPerson reads the person the address names, or answers for the caller.
func (a *App) loadPerson(w http.ResponseWriter, r *http.Request) (personView, bool) {
	wit, err := a.store.GetWitness(r.Context(), pathParam(r, "id"))
	if err != nil {
		if isNotFound(err) {
			a.errorPage(w, r, http.StatusNotFound, "No such person", "The directory has nobody with this id.")
		} else {
			a.dbError(w, r, "admin: load witness", err)
		}
		return personView{}, false
	}
	v := personView{W: wit, Errs: fieldErrors{}, Self: !rules.MayDeactivate(wit.ID, viewerFrom(r.Context()).ID),
		F: personForm{ID: wit.ID, Name: wit.DisplayName, Email: wit.Email, Roles: wit.AdminRoles}}
	return v, true
}

func (a *App) adminWitness(w http.ResponseWriter, r *http.Request) {
	v, ok := a.loadPerson(w, r)
	if !ok {
		return
	}
	v.Notice, v.Warn = directoryNotice(r.URL.Query())
	a.renderPerson(w, r, http.StatusOK, v)
}

func (a *App) renderPerson(w http.ResponseWriter, r *http.Request, code int, v personView) {
	v, err := a.personData(r.Context(), v)
	if err != nil {
		a.dbError(w, r, "admin: person page", err)
		return
	}
	a.render(w, r, code, adminPersonPage(a.meta(r, v.W.DisplayName), v))
}

func (a *App) adminWitnessSave(w http.ResponseWriter, r *http.Request) {
	v, ok := a.loadPerson(w, r)
	if !ok {
		return
	}
	me := viewerFrom(r.Context())
	f := readPersonForm(r)
	f.ID = v.W.ID
	roles := f.roles()
	wit, changed, err := a.directory().Change(r.Context(), v.W.ID, store.PersonChange{DisplayName: &f.Name, Email: &f.Email, Roles: &roles}, me.ID)
	if err != nil {
		v.F = f
		if a.formProblems(w, r, err, v.Errs) {
			a.renderPerson(w, r, http.StatusUnprocessableEntity, v)
		}
		return
	}
	done := "unchanged"
	if changed {
		done = "saved"
	}
	http.Redirect(w, r, witnessAdminURL(wit.ID)+"?done="+done, http.StatusSeeOther)
}

// adminWitnessActive deactivates (with a reason) or reactivates a person and
// tells the open ceremonies that list them.
func (a *App) adminWitnessActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := a.loadPerson(w, r)
		if !ok {
			return
		}
		me := viewerFrom(r.Context())
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		o, err := a.directory().SetActive(r.Context(), v.W.ID, active, me.ID, reason)
		if err != nil {
			v.Reason = reason
			if a.formProblems(w, r, err, v.Errs) {
				a.renderPerson(w, r, http.StatusUnprocessableEntity, v)
			}
			return
		}
		done := "reactivated"
		if !active {
			done = "deactivated"
		}
		if !o.Changed {
			done = "unchanged"
		}
		a.logReach("directory: "+done, o.Witness.ID, me.ID, o.Reach)
		http.Redirect(w, r, witnessAdminURL(o.Witness.ID)+reachQuery(done, o.Reach), http.StatusSeeOther)
	}
}

// adminWitnessTell tells the open ceremonies listing a person their standing
// again, after Temporal could not be reached.
func (a *App) adminWitnessTell(w http.ResponseWriter, r *http.Request) {
	v, ok := a.loadPerson(w, r)
	if !ok {
		return
	}
	me := viewerFrom(r.Context())
	reach := a.directory().Tell(r.Context(), v.W, me.ID)
	a.logReach("directory: told again", v.W.ID, me.ID, reach)
	http.Redirect(w, r, witnessAdminURL(v.W.ID)+reachQuery("told", reach), http.StatusSeeOther)
}

func (a *App) logReach(msg, id, by string, reach directory.Reach) {
	if reach.NotTold != nil {
		a.log.Warn(msg+"; some open ceremonies were not told", "witness", id, "by", by, "told", reach.Told, "missed", reach.Missed, "err", reach.NotTold)
		return
	}
	a.log.Info(msg, "witness", id, "by", by, "told", reach.Told)
}

func reachQuery(done string, reach directory.Reach) string {
	return "?done=" + done + "&told=" + strconv.Itoa(len(reach.Told)) + "&missed=" + strconv.Itoa(len(reach.Missed))
}

// directoryNotice says, after a change, what it did (the query of the page the
// change redirected to; only its fixed words and counts are shown).
func directoryNotice(q url.Values) (notice, warn string) {
	told, _ := strconv.Atoi(q.Get("told"))
	missed, _ := strconv.Atoi(q.Get("missed"))
	switch q.Get("done") {
	case "added":
		notice = "Added to the directory. When they log in through the identity provider, their login is bound to this entry."
	case "saved":
		notice = "Saved."
	case "unchanged":
		notice = "Nothing changed."
	case "deactivated":
		notice = "Deactivated: they can no longer log in, sign or use their API tokens."
	case "reactivated":
		notice = "Reactivated: they may log in and sign again."
	case "told":
		notice = "Done."
	default:
		return "", ""
	}
	if told > 0 {
		notice += " " + plural(told, "open ceremony that lists them was", "open ceremonies that list them were") + " told."
	}
	if missed > 0 {
		warn = plural(missed, "open ceremony that lists them", "open ceremonies that list them") +
			" could not be told: Temporal did not answer. The change stands, and the ceremony pages show it from the directory; tell them again once Temporal is back."
	}
	return notice, warn
}

// roleSourceWords says where a person's role came from.
func roleSourceWords(w store.Witness, role string) string {
	switch w.RoleSource(role) {
	case "idp":
		return "from the identity provider"
	case "admin":
		return "given by an admin"
	case "idp+admin":
		return "from the identity provider and given by an admin"
	}
	return ""
}
