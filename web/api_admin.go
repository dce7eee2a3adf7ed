package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/directory"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// The admin JSON API: the directory and the templates, for admins only (the
// same requireAdmin as the pages, behind the bearer token).

func (a *App) apiAdminRoutes(r chi.Router) {
	r.Use(a.requireAdmin)
	r.Get("/witnesses", a.apiWitnesses)
	r.Post("/witnesses", a.apiWitnessAdd)
	r.Get("/witnesses/{id}", a.apiWitness)
	r.Patch("/witnesses/{id}", a.apiWitnessPatch)
	r.Post("/witnesses/{id}/deactivate", a.apiWitnessActive(false))
	r.Post("/witnesses/{id}/reactivate", a.apiWitnessActive(true))
	r.Get("/templates", a.apiTemplates)
	r.Get("/templates/{name}", a.apiTemplate)
	r.Put("/templates/{name}", a.apiTemplatePut)
}

// apiRole is one role of a person and where it came from ("idp", "admin",
// "idp+admin").
type apiRole struct {
	Role   string `json:"role"`
	Source string `json:"source"`
}

// apiWitness is a person as the API shows them.
type apiWitness struct {
	ID                    string     `json:"id"`
	Name                  string     `json:"name"`
	Email                 string     `json:"email"`
	State                 string     `json:"state"` // "active" or "deactivated"
	DeactivatedAt         *time.Time `json:"deactivatedAt,omitempty"`
	Roles                 []apiRole  `json:"roles"`
	AdminRoles            []string   `json:"adminRoles"`
	IdentityProviderRoles []string   `json:"identityProviderRoles"`
	Identity              *string    `json:"identity,omitempty"`
	SyncedAt              *time.Time `json:"syncedAt,omitempty"`
	CreatedAt             time.Time  `json:"createdAt"`
	UpdatedAt             time.Time  `json:"updatedAt"`
	URL                   string     `json:"url"`
}

func (a *App) apiWitnessOf(w store.Witness) apiWitness {
	out := apiWitness{ID: w.ID, Name: w.DisplayName, Email: w.Email, State: "active", DeactivatedAt: w.DeactivatedAt,
		Roles: []apiRole{}, AdminRoles: w.AdminRoles, IdentityProviderRoles: w.IdPRoles, Identity: w.Identity,
		SyncedAt: w.SyncedAt, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, URL: a.cfg.BaseURL + "/api/v1/witnesses/" + url.PathEscape(w.ID)}
	if !w.Active() {
		out.State = "deactivated"
	}
	for _, r := range w.Roles {
		out.Roles = append(out.Roles, apiRole{Role: r, Source: w.RoleSource(r)})
	}
	return out
}

func (a *App) apiWitnesses(w http.ResponseWriter, r *http.Request) {
	ws, err := a.store.ListWitnesses(r.Context())
	if err != nil {
		a.apiDBError(w, "API: list witnesses", err)
		return
	}
	q := parseDirectoryQuery(r.URL.Query())
	items := []apiWitness{}
	for _, wit := range ws {
		if q.match(wit) {
			items = append(items, a.apiWitnessOf(wit))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func (a *App) apiWitness(w http.ResponseWriter, r *http.Request) {
	wit, ok := a.apiPerson(w, r)
	if !ok {
		return
	}
	open, err := a.store.OpenCeremoniesListing(r.Context(), wit.ID)
	if err != nil {
		a.apiDBError(w, "API: open ceremonies of a witness", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"witness": a.apiWitnessOf(wit), "openCeremonies": open})
}

func (a *App) apiPerson(w http.ResponseWriter, r *http.Request) (store.Witness, bool) {
	wit, err := a.store.GetWitness(r.Context(), pathParam(r, "id"))
	if err != nil {
		if isNotFound(err) {
			problem(w, http.StatusNotFound, "no such witness", "The directory has nobody with id "+pathParam(r, "id")+".")
		} else {
			a.apiDBError(w, "API: load witness", err)
		}
		return wit, false
	}
	return wit, true
}

// apiPersonBody is the body of POST /witnesses and PATCH /witnesses/{id};
// PATCH leaves out what it does not change. roles are the roles an admin
// gives (those from the identity provider follow the person's groups).
type apiPersonBody struct {
	ID    string    `json:"id"`
	Name  *string   `json:"name"`
	Email *string   `json:"email"`
	Roles *[]string `json:"roles"`
}

func (a *App) apiWitnessAdd(w http.ResponseWriter, r *http.Request) {
	var in apiPersonBody
	if !readAPIBody(w, r, &in) {
		return
	}
	p := rules.PersonFields{ID: in.ID}
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Email != nil {
		p.Email = *in.Email
	}
	if in.Roles != nil {
		p.Roles = *in.Roles
	}
	wit, err := a.directory().Add(r.Context(), p, viewerFrom(r.Context()).ID)
	if errors.Is(err, store.ErrExists) {
		problem(w, http.StatusConflict, "already in the directory", in.ID+" is already in the directory; PATCH it to change it.")
		return
	}
	if err != nil {
		a.apiDirectoryError(w, err)
		return
	}
	w.Header().Set("Location", a.apiWitnessOf(wit).URL)
	writeJSON(w, http.StatusCreated, a.apiWitnessOf(wit))
}

func (a *App) apiWitnessPatch(w http.ResponseWriter, r *http.Request) {
	wit, ok := a.apiPerson(w, r)
	if !ok {
		return
	}
	var in apiPersonBody
	if !readAPIBody(w, r, &in) {
		return
	}
	if in.ID != "" && in.ID != wit.ID {
		problemExt(w, http.StatusUnprocessableEntity, "invalid request", "Some fields are not valid.",
			map[string]any{"errors": map[string]string{"id": "an id cannot change"}})
		return
	}
	wit, _, err := a.directory().Change(r.Context(), wit.ID, store.PersonChange{DisplayName: in.Name, Email: in.Email, Roles: in.Roles}, viewerFrom(r.Context()).ID)
	if err != nil {
		a.apiDirectoryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.apiWitnessOf(wit))
}

// apiReach is whom a change of standing was told to.
type apiReach struct {
	OpenCeremonies []string `json:"openCeremonies"`
	Told           []string `json:"told"`
	NotTold        []string `json:"notTold"`
	Warning        string   `json:"warning,omitempty"`
}

func (a *App) apiWitnessActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wit, ok := a.apiPerson(w, r)
		if !ok {
			return
		}
		var in struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 && !readAPIBody(w, r, &in) {
			return
		}
		me := viewerFrom(r.Context())
		o, err := a.directory().SetActive(r.Context(), wit.ID, active, me.ID, in.Reason)
		if err != nil {
			a.apiDirectoryError(w, err)
			return
		}
		a.logReach("API: directory standing", o.Witness.ID, me.ID, o.Reach)
		writeJSON(w, http.StatusOK, map[string]any{"witness": a.apiWitnessOf(o.Witness), "changed": o.Changed, "ceremonies": reachJSON(o.Reach)})
	}
}

func reachJSON(r directory.Reach) apiReach {
	out := apiReach{OpenCeremonies: r.Open, Told: r.Told, NotTold: r.Missed}
	if out.OpenCeremonies == nil {
		out.OpenCeremonies, out.Told, out.NotTold = []string{}, []string{}, []string{}
	}
	if r.NotTold != nil {
		out.Warning = "The change stands, but some open ceremonies could not be told (" + plainError(r.NotTold) + "); their pages show it from the directory."
	}
	return out
}

// apiDirectoryError answers a refused directory change: field problems as 422
// with errors keyed by field.
func (a *App) apiDirectoryError(w http.ResponseWriter, err error) {
	var ps rules.Problems
	switch {
	case errors.As(err, &ps):
		problemExt(w, http.StatusUnprocessableEntity, "invalid request", ps.Error(), map[string]any{"errors": problemMap(ps)})
	case errors.Is(err, store.ErrNotFound):
		problem(w, http.StatusNotFound, "no such witness", "The directory has nobody with this id.")
	default:
		a.apiDBError(w, "API: directory change", err)
	}
}

func problemMap(ps rules.Problems) map[string]string {
	errs := map[string]string{}
	for _, p := range ps {
		if _, seen := errs[p.Field]; !seen {
			errs[p.Field] = p.Message
		}
	}
	return errs
}

func (a *App) apiDBError(w http.ResponseWriter, what string, err error) {
	a.log.Error(what, "err", err)
	problem(w, http.StatusServiceUnavailable, "temporarily unavailable", "The operations database did not answer.")
}

// readAPIBody decodes one JSON object, refusing unknown fields; it answers
// the problem itself and returns false.
func readAPIBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			problem(w, http.StatusBadRequest, "invalid JSON", "The body must hold one JSON object.")
			return false
		}
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		problem(w, http.StatusRequestEntityTooLarge, "request too large", "The request body is larger than this endpoint accepts.")
		return false
	}
	problem(w, http.StatusBadRequest, "invalid JSON", "The body must be a JSON object: "+plainError(err))
	return false
}

// apiTemplate is one version of a template.
type apiTemplate struct {
	Name      string         `json:"name"`
	Version   int            `json:"version"`
	CreatedBy string         `json:"createdBy"`
	CreatedAt time.Time      `json:"createdAt"`
	Template  rules.Template `json:"template"`
}

func (a *App) apiTemplateOf(row store.TemplateRow) apiTemplate {
	return apiTemplate{Name: row.Name, Version: row.Version, CreatedBy: row.CreatedBy, CreatedAt: row.CreatedAt, Template: a.templateOf(row)}
}

func (a *App) apiTemplates(w http.ResponseWriter, r *http.Request) {
	rows, err := a.store.ListTemplates(r.Context())
	if err != nil {
		a.apiDBError(w, "API: list templates", err)
		return
	}
	items := []apiTemplate{}
	for _, row := range rows {
		items = append(items, a.apiTemplateOf(row))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *App) apiTemplate(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	version := 0
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			problem(w, http.StatusBadRequest, "invalid version", "version must be a whole number from 1.")
			return
		}
		version = n
	}
	rows, row, err := a.templateAt(r.Context(), name, version)
	switch {
	case errors.Is(err, errNoVersion):
		problem(w, http.StatusNotFound, "no such version", "Template "+name+" has no version "+strconv.Itoa(version)+".")
		return
	case isNotFound(err):
		problem(w, http.StatusNotFound, "no such template", "There is no template named "+name+".")
		return
	case err != nil:
		a.apiDBError(w, "API: template versions", err)
		return
	}
	versions := make([]int, len(rows))
	for i, r := range rows {
		versions[i] = r.Version
	}
	writeJSON(w, http.StatusOK, map[string]any{"template": a.apiTemplateOf(row), "versions": versions})
}

// apiTemplatePut saves the body (a template; its name may be left out) as
// the next version of {name}, unless it is the same as the latest.
func (a *App) apiTemplatePut(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	var t rules.Template
	if !readAPIBody(w, r, &t) {
		return
	}
	if ps := templateProblems(&t, name); len(ps) > 0 {
		problemExt(w, http.StatusUnprocessableEntity, "invalid template", ps.Error(), map[string]any{"errors": problemMap(ps)})
		return
	}
	version, added, err := a.saveTemplate(r.Context(), t, viewerFrom(r.Context()).ID)
	if err != nil {
		a.apiDBError(w, "API: apply template", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": t.Name, "version": version, "changed": added})
}
