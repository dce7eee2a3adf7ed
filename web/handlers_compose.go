package web

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// composeForm is the composer's input, kept as strings so a refused form is
// shown back exactly as typed.
type composeForm struct {
	Kind, Title, Description, Name string
	ArtifactName, Digest, URI      string
	Threshold, Deadline            string
	Witnesses                      map[string]string // checked witness id -> role
	RoleMin                        map[string]string // role -> minimum
	Veto                           []string
}

type fieldErrors map[string]string

// fieldsNeedAttention is the form-level message when fields are refused; the
// page lists them instead.
const fieldsNeedAttention = "Some fields need attention."

// composeLabels are the composer's field labels, also used by the error list.
var composeLabels = map[string]string{
	"kind": "Kind", "title": "Title (optional)", "name": "Name", "description": "Description",
	"artifact_name": "Artifact name", "digest": "Digest (sha256:…)", "uri": "Location (optional)",
	"witnesses": "Witnesses", "threshold": "Approvals needed overall", "deadline": "Deadline (UTC)",
}

// composeOrder is the order of the composer's fields on the page.
var composeOrder = []string{"kind", "title", "name", "description", "artifact_name", "digest", "uri", "witnesses", "threshold"}

// aria ties a field to its error for assistive technology.
func (e fieldErrors) aria(name string) templ.Attributes {
	if _, ok := e[name]; !ok {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": "err-" + fieldID(name)}
}

// fieldID is a field's element id ("min:security" -> "min-security").
func fieldID(name string) string { return strings.ReplaceAll(name, ":", "-") }

// fieldError is one line of the error summary, linking to its field.
type fieldError struct{ Target, Label, Msg string }

// errorList lists the refused fields in page order.
func (v composeView) errorList() []fieldError {
	var out []fieldError
	add := func(name, label, target string) {
		if msg, ok := v.Errs[name]; ok {
			out = append(out, fieldError{Target: target, Label: label, Msg: msg})
		}
	}
	for _, name := range composeOrder {
		target := fieldID(name)
		if name == "witnesses" && len(v.Known) > 0 {
			target = "w-" + v.Known[0].ID
		}
		add(name, strings.TrimSuffix(composeLabels[name], " (optional)"), target)
	}
	for _, r := range v.Roles {
		add("min:"+r, "At least, from "+r, fieldID("min:"+r))
	}
	add("deadline", composeLabels["deadline"], "deadline")
	return out
}

type composeView struct {
	Namespace string
	F         composeForm
	Errs      fieldErrors
	Known     []store.Witness
	Roles     []string // every role a known witness holds
	Error     string   // form-level
}

func (a *App) composer(w http.ResponseWriter, r *http.Request) {
	v, err := a.composeData(r)
	if err != nil {
		a.dbError(w, r, "list witnesses for the composer", err)
		return
	}
	v.F = composeForm{Kind: contract.KindRelease, Threshold: "2",
		Deadline: a.cfg.Now().UTC().Add(72 * time.Hour).Format("2006-01-02T15:04")}
	a.render(w, r, http.StatusOK, composePage(a.meta(r, "New ceremony"), v))
}

func (a *App) composeData(r *http.Request) (composeView, error) {
	ws, err := a.store.ListWitnesses(r.Context())
	if err != nil {
		return composeView{}, err
	}
	v := composeView{Namespace: a.cfg.Namespace, Known: ws, Errs: fieldErrors{}}
	seen := map[string]bool{}
	for _, w := range ws {
		for _, role := range w.Roles {
			if !seen[role] {
				seen[role] = true
				v.Roles = append(v.Roles, role)
			}
		}
	}
	sort.Strings(v.Roles)
	return v, nil
}

func (a *App) composeSubmit(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	v, err := a.composeData(r)
	if err != nil {
		a.dbError(w, r, "list witnesses for the composer", err)
		return
	}
	if me.Witness == nil {
		a.errorPage(w, r, http.StatusForbidden, "Not allowed", "Only registered witnesses can open ceremonies.")
		return
	}
	if err := r.ParseForm(); err != nil {
		a.errorPage(w, r, http.StatusBadRequest, "Form not readable", "The form could not be read. Reload the page and try again.")
		return
	}
	v.F = readComposeForm(r, v.Roles)
	spec, errs := a.buildSpec(v.F, v.Known, me.ID)
	if len(errs) > 0 {
		v.Errs = errs
		v.Error = fieldsNeedAttention
		a.render(w, r, http.StatusUnprocessableEntity, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	ctx := r.Context()
	if a.cluster != nil {
		// Cluster mode: the Ceremony resource is the source of truth; the watcher
		// starts the workflow from it.
		if err := a.cluster.CreateCeremony(ctx, spec); err != nil {
			if errors.Is(err, contract.ErrCeremonyExists) {
				a.nameTaken(w, r, v)
				return
			}
			a.log.Error("create Ceremony resource", "ceremony", spec.ID, "err", err)
			v.Error = "The Ceremony resource could not be created (" + plainError(err) + ")."
			a.render(w, r, http.StatusServiceUnavailable, composePage(a.meta(r, "New ceremony"), v))
			return
		}
		a.log.Info("Ceremony resource created from the web", "ceremony", spec.ID, "initiator", me.ID)
		http.Redirect(w, r, "/ceremonies/"+spec.ID+"?created=1", http.StatusSeeOther)
		return
	}
	if _, err := a.cer.Open(ctx, spec); err != nil {
		if errors.Is(err, contract.ErrCeremonyExists) {
			a.nameTaken(w, r, v)
			return
		}
		a.log.Error("open ceremony", "ceremony", spec.ID, "err", err)
		v.Error = "The ceremony could not be opened (" + plainError(err) + "). Try again in a moment."
		a.render(w, r, http.StatusServiceUnavailable, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	a.log.Info("ceremony opened from the web", "ceremony", spec.ID, "initiator", me.ID)
	a.notifyChanged(spec.ID)
	http.Redirect(w, r, "/ceremonies/"+spec.ID+"?opened=1", http.StatusSeeOther)
}

// nameTaken answers a composer post whose ceremony id is already used: ids name
// one ceremony forever, open or ended.
func (a *App) nameTaken(w http.ResponseWriter, r *http.Request, v composeView) {
	v.Errs["name"] = "A ceremony with this name exists already (open or ended); choose another name."
	v.Error = fieldsNeedAttention
	a.render(w, r, http.StatusConflict, composePage(a.meta(r, "New ceremony"), v))
}

func readComposeForm(r *http.Request, roles []string) composeForm {
	f := composeForm{
		Kind: r.PostFormValue("kind"), Title: strings.TrimSpace(r.PostFormValue("title")),
		Description: strings.TrimSpace(r.PostFormValue("description")), Name: strings.TrimSpace(r.PostFormValue("name")),
		ArtifactName: strings.TrimSpace(r.PostFormValue("artifact_name")), Digest: strings.TrimSpace(r.PostFormValue("digest")),
		URI: strings.TrimSpace(r.PostFormValue("uri")), Threshold: strings.TrimSpace(r.PostFormValue("threshold")),
		Deadline:  strings.TrimSpace(r.PostFormValue("deadline")),
		Witnesses: map[string]string{}, RoleMin: map[string]string{},
	}
	for _, id := range r.PostForm["witness"] {
		f.Witnesses[id] = r.PostFormValue("role:" + id)
	}
	for _, role := range roles {
		if m := strings.TrimSpace(r.PostFormValue("min:" + role)); m != "" {
			f.RoleMin[role] = m
		}
	}
	for _, role := range r.PostForm["veto"] {
		if slices.Contains(roles, role) && !slices.Contains(f.Veto, role) {
			f.Veto = append(f.Veto, role)
		}
	}
	return f
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	slugRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	slugBad  = regexp.MustCompile(`[^a-z0-9]+`)
)

// buildSpec validates the form field by field and builds the ceremony spec.
func (a *App) buildSpec(f composeForm, known []store.Witness, initiator string) (contract.Spec, fieldErrors) {
	errs := fieldErrors{}
	spec := contract.Spec{Kind: f.Kind, Title: f.Title, Description: f.Description, Initiator: initiator, Source: "web",
		Artifact: contract.Artifact{Name: f.ArtifactName, Digest: f.Digest, URI: f.URI}}
	if !slices.Contains(contract.Kinds, f.Kind) {
		errs["kind"] = "Choose one of the listed kinds."
	}
	if len(f.Title) > 200 {
		errs["title"] = "At most 200 characters."
	}
	if len(f.Description) > 4000 {
		errs["description"] = "At most 4000 characters."
	}
	switch {
	case f.ArtifactName == "":
		errs["artifact_name"] = "Name the artifact this ceremony is about."
	case len(f.ArtifactName) > 200:
		errs["artifact_name"] = "At most 200 characters."
	}
	if !digestRE.MatchString(f.Digest) {
		errs["digest"] = `Give the digest as "sha256:" followed by 64 lowercase hex digits.`
	}
	if f.URI != "" && (len(f.URI) > 1000 || !strings.Contains(f.URI, "://") && !strings.Contains(f.URI, "/")) {
		errs["uri"] = "Give a full location such as oci://registry.example.org/app or leave it empty."
	}
	name := f.Name
	if name == "" {
		// The id is what operators see first (the Temporal UI lists workflows by
		// id), so it says what the ceremony is: its title, else its artifact.
		from := f.Title
		if from == "" {
			from = f.ArtifactName
		}
		base := strings.Trim(slugBad.ReplaceAllString(strings.ToLower(from), "-"), "-")
		if len(base) > 48 {
			base = strings.Trim(base[:48], "-")
		}
		if base == "" {
			base = "ceremony"
		}
		name = base + "-" + randomHex(3)
	}
	if !slugRE.MatchString(name) {
		errs["name"] = "Use lowercase letters, digits and dashes (at most 63), starting and ending with a letter or digit."
	}
	spec.ID = a.cfg.Namespace + "/" + name

	byID := map[string]store.Witness{}
	for _, w := range known {
		byID[w.ID] = w
	}
	ids := make([]string, 0, len(f.Witnesses))
	for id := range f.Witnesses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w, ok := byID[id]
		if !ok {
			errs["witnesses"] = "Pick witnesses from the list."
			continue
		}
		role := f.Witnesses[id]
		if role != "" && !slices.Contains(w.Roles, role) {
			errs["witnesses"] = w.DisplayName + " does not hold the role " + role + "."
			continue
		}
		if id == initiator {
			errs["witnesses"] = "You are the initiator; the initiator never counts as a witness, so leave yourself out."
			continue
		}
		spec.Witnesses = append(spec.Witnesses, contract.WitnessRef{ID: id, Role: role})
	}
	if len(spec.Witnesses) == 0 && errs["witnesses"] == "" {
		errs["witnesses"] = "Pick at least one witness."
	}
	t, err := strconv.Atoi(f.Threshold)
	switch {
	case err != nil || t < 1:
		errs["threshold"] = "Give a whole number of approvals, at least 1."
	case t > len(spec.Witnesses) && errs["witnesses"] == "":
		errs["threshold"] = "You picked " + plural(len(spec.Witnesses), "witness", "witnesses") + ", so " + strconv.Itoa(t) + " approvals could never be reached."
	}
	spec.Quorum.Threshold = t
	for role, m := range f.RoleMin {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 {
			errs["min:"+role] = "A whole number, 0 or more."
			continue
		}
		if n == 0 {
			continue
		}
		have := 0
		for _, w := range spec.Witnesses {
			if w.Role == role {
				have++
			}
		}
		if n > have {
			errs["min:"+role] = "Only " + plural(have, "picked witness signs", "picked witnesses sign") + " as " + role + "."
			continue
		}
		if spec.Quorum.Roles == nil {
			spec.Quorum.Roles = map[string]int{}
		}
		spec.Quorum.Roles[role] = n
	}
	spec.Quorum.Veto = f.Veto
	dl, err := time.Parse("2006-01-02T15:04", f.Deadline)
	switch {
	case err != nil:
		errs["deadline"] = "Give a date and time (UTC)."
	case !dl.After(a.cfg.Now().Add(5 * time.Minute)):
		errs["deadline"] = "The deadline must be at least 5 minutes from now."
	case dl.After(a.cfg.Now().Add(366 * 24 * time.Hour)):
		errs["deadline"] = "The deadline must be within a year."
	}
	spec.Deadline = dl.UTC()
	return spec, errs
}

func (f composeForm) hasWitness(id string) bool { _, ok := f.Witnesses[id]; return ok }

// roleOf selects the submitted role, or the witness's first role on a fresh form.
func (f composeForm) roleOf(id, role string, i int) bool {
	if r, ok := f.Witnesses[id]; ok {
		return r == role
	}
	return i == 0
}

func (f composeForm) isVeto(role string) bool { return slices.Contains(f.Veto, role) }
