package web

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
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
	if len(v.Roles) > 0 {
		add("veto", "Veto roles", fieldID("veto:"+v.Roles[0]))
	}
	add("deadline", composeLabels["deadline"], "deadline")
	add("form", "The ceremony as a whole", "error-summary")
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

var slugBad = regexp.MustCompile(`[^a-z0-9]+`)

// buildSpec reads the form into a spec and checks it field by field: what only
// a form can get wrong (a number that is not one, a witness not in the
// directory, a deadline too soon to sign by), then the rules every ceremony
// obeys (rules.ValidateSpec), each problem shown at the field it is about.
func (a *App) buildSpec(f composeForm, known []store.Witness, initiator string) (contract.Spec, fieldErrors) {
	errs := fieldErrors{}
	now := a.cfg.Now()
	spec := contract.Spec{Kind: f.Kind, Title: f.Title, Description: f.Description, Initiator: initiator, Source: "web",
		Artifact: contract.Artifact{Name: f.ArtifactName, Digest: f.Digest, URI: f.URI}}
	name := f.Name
	if name == "" {
		name = generatedName(f.Title, f.ArtifactName)
	}
	spec.ID = a.cfg.Namespace + "/" + name
	spec.Witnesses = pickedWitnesses(f, known, initiator, errs)
	t, err := strconv.Atoi(f.Threshold)
	if err != nil || t < 1 {
		errs["threshold"] = "Give a whole number of approvals, at least 1."
	}
	spec.Quorum.Threshold = t
	for role, m := range f.RoleMin {
		n, err := strconv.Atoi(m)
		switch {
		case err != nil || n < 0:
			errs["min:"+role] = "A whole number, 0 or more."
		case n > 0:
			if spec.Quorum.Roles == nil {
				spec.Quorum.Roles = map[string]int{}
			}
			spec.Quorum.Roles[role] = n
		}
	}
	spec.Quorum.Veto = f.Veto
	dl, err := time.Parse("2006-01-02T15:04", f.Deadline)
	switch {
	case err != nil:
		errs["deadline"] = "Give a date and time (UTC)."
	default:
		if err := rules.ComposerDeadline(dl, now); err != nil {
			errs["deadline"] = sentence(err.Error())
		}
	}
	spec.Deadline = dl.UTC()
	for _, p := range rules.ValidateSpec(spec, now) {
		field := formField(p.Field)
		if _, taken := errs[field]; !taken {
			errs[field] = sentence(p.Message)
		}
	}
	return spec, errs
}

// pickedWitnesses turns the ticked witnesses into the spec's list, refusing
// people not in the directory, roles they do not hold, and the initiator.
func pickedWitnesses(f composeForm, known []store.Witness, initiator string, errs fieldErrors) []contract.WitnessRef {
	byID := map[string]store.Witness{}
	for _, w := range known {
		byID[w.ID] = w
	}
	var out []contract.WitnessRef
	for _, id := range slices.Sorted(maps.Keys(f.Witnesses)) {
		w, ok := byID[id]
		role := f.Witnesses[id]
		switch {
		case !ok:
			errs["witnesses"] = "Pick witnesses from the list."
		case role != "" && !slices.Contains(w.Roles, role):
			errs["witnesses"] = w.DisplayName + " does not hold the role " + role + "."
		case id == initiator:
			errs["witnesses"] = "You are the initiator; the initiator never counts as a witness, so leave yourself out."
		default:
			out = append(out, contract.WitnessRef{ID: id, Role: role})
		}
	}
	if len(out) == 0 && errs["witnesses"] == "" {
		errs["witnesses"] = "Pick at least one witness."
	}
	return out
}

// generatedName derives a ceremony name, with a random tail, from its title,
// else its artifact's name: the id is what operators see first (the Temporal UI
// lists workflows by id), so it says what the ceremony is.
func generatedName(title, artifact string) string {
	from := title
	if from == "" {
		from = artifact
	}
	base := strings.Trim(slugBad.ReplaceAllString(strings.ToLower(from), "-"), "-")
	if len(base) > 48 {
		base = strings.Trim(base[:48], "-")
	}
	if base == "" {
		base = "ceremony"
	}
	return base + "-" + randomHex(3)
}

// formField maps a rules field ("artifact.digest", "quorum.roles[security]") to
// the composer's input it is about.
func formField(field string) string {
	switch {
	case field == "id":
		return "name"
	case field == "artifact.name":
		return "artifact_name"
	case strings.HasPrefix(field, "artifact."):
		return strings.TrimPrefix(field, "artifact.")
	case strings.HasPrefix(field, "witnesses"):
		return "witnesses"
	case strings.HasPrefix(field, "quorum.roles["):
		return "min:" + strings.TrimSuffix(strings.TrimPrefix(field, "quorum.roles["), "]")
	case strings.HasPrefix(field, "quorum.veto"):
		return "veto"
	case strings.HasPrefix(field, "quorum"):
		return "threshold"
	case field == "initiator":
		return "form"
	}
	return field
}

// sentence makes a rules message read as a sentence on a form.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
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
