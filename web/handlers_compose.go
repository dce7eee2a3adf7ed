package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// The composer starts from an approval template: the template fixes the kind,
// the witnesses (by role, resolved from the directory when the ceremony opens,
// and by name) and the policy; the person opening it says what is decided (the
// artifact, a title and description) and by when. Only people the template
// lets open it (rules.MayOpen; admins always) get the form.

// composeForm is the composer's input, kept as strings so a refused form is
// shown back exactly as typed.
type composeForm struct {
	Template, Version         string
	Title, Description, Name  string
	ArtifactName, Digest, URI string
	Deadline                  string
	// The optional Intune target of a release whose template fixes none:
	// the app, one "GROUP-ID intent" per line, and what a revocation does.
	IntuneApp, IntuneGroups, IntuneOnRevoke string
}

type fieldErrors map[string]string

// fieldsNeedAttention is the form-level message when fields are refused; the
// page lists them instead.
const fieldsNeedAttention = "Some fields need attention."

// composeLabels are the composer's field labels, also used by the error list.
var composeLabels = map[string]string{
	"title": "Title", "name": "Name", "description": "Description",
	"artifact_name": "Artifact name", "digest": "Digest (sha256:…)", "uri": "Location (optional)",
	"deadline": "Deadline (UTC)", "form": "The template's policy",
	"intune_app": "Intune app id (optional)", "intune_groups": "Entra groups, one per line: group id and intent",
	"intune_on_revoke": "If the artifact is revoked",
}

// composeOrder is the order of the composer's fields on the page.
var composeOrder = []string{"title", "name", "description", "artifact_name", "digest", "uri", "intune_app", "intune_groups", "intune_on_revoke", "deadline", "form"}

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
	for _, name := range composeOrder {
		if msg, ok := v.Errs[name]; ok {
			target := fieldID(name)
			if name == "form" {
				target = "template-policy"
			}
			out = append(out, fieldError{Target: target, Label: strings.TrimSuffix(composeLabels[name], " (optional)"), Msg: msg})
		}
	}
	return out
}

// templateChoice is a template the viewer may open a ceremony from.
type templateChoice struct {
	T       rules.Template
	Version int
}

type composeView struct {
	Namespace string
	Choices   []templateChoice // the list of templates, when none is chosen
	T         *rules.Template  // the chosen template
	Version   int
	Witnesses []contract.WitnessRef // the template's witnesses, resolved now
	Policy    string                // the policy in words, with names
	F         composeForm
	Errs      fieldErrors
	Error     string // form-level
	// dir is the directory as composeFor read it: a request reads it once, and
	// the spec is built from the same people the page named.
	dir []rules.Person
}

func (a *App) composer(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	name := r.URL.Query().Get("template")
	if name == "" {
		v, err := a.templateChoices(r.Context(), me)
		if err != nil {
			a.dbError(w, r, "list templates for the composer", err)
			return
		}
		a.render(w, r, http.StatusOK, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	v, code, msg := a.composeFor(r.Context(), me, name, 0)
	if code != http.StatusOK {
		a.errorPage(w, r, code, "Cannot open from this template", msg)
		return
	}
	v.F.Deadline = a.cfg.Now().UTC().Add(templateDeadline(*v.T)).Format("2006-01-02T15:04")
	a.render(w, r, http.StatusOK, composePage(a.meta(r, "New ceremony"), v))
}

// templateChoices lists the templates the viewer may open ceremonies from.
func (a *App) templateChoices(ctx context.Context, me *viewer) (composeView, error) {
	v := composeView{Namespace: a.cfg.Namespace, Errs: fieldErrors{}}
	rows, err := a.store.ListTemplates(ctx)
	if err != nil {
		return v, err
	}
	for _, row := range rows {
		t, err := row.Template()
		if err != nil {
			a.log.Warn("template not readable", "template", row.Name, "err", err)
			continue
		}
		if me.mayOpen(t) {
			v.Choices = append(v.Choices, templateChoice{T: t, Version: row.Version})
		}
	}
	return v, nil
}

// composeFor loads a template (its latest version when version is 0) for the
// viewer and resolves its witnesses as the directory has them now. A refusal
// is an HTTP status and the reason in words.
func (a *App) composeFor(ctx context.Context, me *viewer, name string, version int) (composeView, int, string) {
	v := composeView{Namespace: a.cfg.Namespace, Errs: fieldErrors{}}
	row, err := a.store.GetTemplate(ctx, name, version)
	if err != nil {
		if isNotFound(err) {
			return v, http.StatusNotFound, "There is no template " + name + "."
		}
		a.log.Error("read template", "template", name, "err", err)
		return v, http.StatusServiceUnavailable, "The template could not be read. Try again in a moment."
	}
	t, err := row.Template()
	if err != nil {
		return v, http.StatusServiceUnavailable, "The template could not be read: " + plainError(err)
	}
	if !me.mayOpen(t) {
		return v, http.StatusForbidden, "Template " + t.Name + " lets " + andList(t.OpenedBy) + " (and admins) open ceremonies; you are not one of them. Ask an admin if you should be."
	}
	ws, err := a.store.ListWitnesses(ctx)
	if err != nil {
		a.log.Error("read the directory for the composer", "err", err)
		return v, http.StatusServiceUnavailable, "The directory could not be read. Try again in a moment."
	}
	v.dir = directoryOf(ws)
	spec := rules.Resolve(t, row.Version, v.dir, contract.Spec{Initiator: me.ID})
	v.T, v.Version, v.Witnesses = &t, row.Version, spec.Witnesses
	v.Policy = policyWords(spec, peopleOf(ws))
	v.F.Template, v.F.Version = t.Name, strconv.Itoa(row.Version)
	return v, http.StatusOK, ""
}

func templateDeadline(t rules.Template) time.Duration {
	d, err := rules.TemplateDeadline(t.Deadline)
	if err != nil {
		return rules.DefaultDeadline
	}
	return d
}

func (a *App) composeSubmit(w http.ResponseWriter, r *http.Request) {
	me := viewerFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		a.errorPage(w, r, http.StatusBadRequest, "Form not readable", "The form could not be read. Reload the page and try again.")
		return
	}
	f := readComposeForm(r)
	version, _ := strconv.Atoi(f.Version)
	v, code, msg := a.composeFor(r.Context(), me, f.Template, 0)
	if code != http.StatusOK {
		a.log.Warn("composer refused", "template", f.Template, "viewer", me.ID, "status", code)
		a.errorPage(w, r, code, "Cannot open from this template", msg)
		return
	}
	v.F = f
	if version != v.Version {
		// Someone changed the template while this form was open: what the
		// person saw is not what would open.
		v.F.Version = strconv.Itoa(v.Version)
		v.Error = "Template " + v.T.Name + " changed since you opened this form (it is now version " + v.F.Version + "). Check its witnesses and policy below, then open the ceremony again."
		a.render(w, r, http.StatusConflict, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	spec, errs := a.buildSpec(f, v, me.ID)
	if len(errs) > 0 {
		v.Errs, v.Error = errs, fieldsNeedAttention
		a.render(w, r, http.StatusUnprocessableEntity, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	a.openComposed(w, r, v, spec)
}

// openComposed opens a checked spec: as a Ceremony resource in cluster mode
// (the watcher starts the workflow), else by starting the workflow.
func (a *App) openComposed(w http.ResponseWriter, r *http.Request, v composeView, spec contract.Spec) {
	ctx, me := r.Context(), viewerFrom(r.Context())
	open, where, next := a.cer.Open, "workflow", "/ceremonies/"+spec.ID+"?opened=1"
	if a.cluster != nil {
		open = func(ctx context.Context, s contract.Spec) (string, error) {
			return "", a.cluster.CreateCeremony(ctx, s)
		}
		where, next = "Ceremony resource", "/ceremonies/"+spec.ID+"?created=1"
	}
	// Only ceremonies that open count against the person's limit: not forms
	// sent back with errors, nor opens that fail (Temporal unreachable, the
	// name taken). Settled before answering, so the next request sees it.
	settle, ok := a.opens.hold(w, r)
	if !ok {
		return
	}
	defer settle(true)
	_, err := open(ctx, spec)
	settle(err == nil)
	if err != nil {
		if errors.Is(err, contract.ErrCeremonyExists) {
			a.nameTaken(w, r, v)
			return
		}
		a.log.Error("open ceremony", "ceremony", spec.ID, "as", where, "err", err)
		v.Error = "The ceremony could not be opened (" + plainError(err) + "). Try again in a moment."
		a.render(w, r, http.StatusServiceUnavailable, composePage(a.meta(r, "New ceremony"), v))
		return
	}
	a.log.Info("ceremony opened from the web", "ceremony", spec.ID, "as", where, "template", spec.Template.Name, "initiator", me.ID)
	a.notifyChanged(spec.ID)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// nameTaken answers a composer post whose ceremony id is already used: ids name
// one ceremony forever, open or ended.
func (a *App) nameTaken(w http.ResponseWriter, r *http.Request, v composeView) {
	v.Errs["name"] = "A ceremony with this name exists already (open or ended); choose another name."
	v.Error = fieldsNeedAttention
	a.render(w, r, http.StatusConflict, composePage(a.meta(r, "New ceremony"), v))
}

func readComposeForm(r *http.Request) composeForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return composeForm{
		Template: v("template"), Version: v("version"),
		Title: v("title"), Description: v("description"), Name: v("name"),
		ArtifactName: v("artifact_name"), Digest: v("digest"), URI: v("uri"), Deadline: v("deadline"),
		IntuneApp: v("intune_app"), IntuneGroups: v("intune_groups"), IntuneOnRevoke: v("intune_on_revoke"),
	}
}

// intuneTarget reads the form's Intune fields: none filled is no target; a
// group line that is not "GROUP-ID intent" is the form's to refuse (the rest
// is the rules package's).
func (f composeForm) intuneTarget() (*contract.IntuneTarget, string) {
	if f.IntuneApp == "" && f.IntuneGroups == "" {
		return nil, ""
	}
	t := &contract.IntuneTarget{AppID: f.IntuneApp, OnRevoke: contract.IntuneRevoke(f.IntuneOnRevoke)}
	for n, line := range strings.Split(f.IntuneGroups, "\n") {
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ':' || r == '\r' })
		switch len(fields) {
		case 0:
			continue
		case 2:
			t.Groups = append(t.Groups, contract.IntuneGroup{GroupID: fields[0], Intent: contract.IntuneIntent(strings.ToLower(fields[1]))})
		default:
			return t, fmt.Sprintf("Line %d is not a group id and an intent, such as 11111111-2222-3333-4444-555555555555 required.", n+1)
		}
	}
	return t, ""
}

var slugBad = regexp.MustCompile(`[^a-z0-9]+`)

// buildSpec reads the form into a spec from v's template and checks it field by
// field: what only a form can get wrong (a deadline too soon to sign by, or
// not a date), then the rules every ceremony obeys (rules.ValidateSpec), each
// problem shown at the field it is about; what the template's policy cannot
// meet with the directory as composeFor read it is said at the top.
func (a *App) buildSpec(f composeForm, v composeView, initiator string) (contract.Spec, fieldErrors) {
	t := *v.T
	errs := fieldErrors{}
	now := a.cfg.Now()
	name := f.Name
	if name == "" {
		name = generatedName(f.Title, f.ArtifactName)
	}
	spec := contract.Spec{ID: a.cfg.Namespace + "/" + name, Title: f.Title, Description: f.Description, Initiator: initiator,
		Source: "web", Artifact: contract.Artifact{Name: f.ArtifactName, Digest: f.Digest, URI: f.URI}}
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
	if f.Title == "" {
		errs["title"] = "Say in a few words what is decided; witnesses see it first."
	}
	if t.Intune == nil {
		var problem string
		if spec.Intune, problem = f.intuneTarget(); problem != "" {
			errs["intune_groups"] = problem
		}
	}
	spec = rules.Resolve(t, v.Version, v.dir, spec)
	for _, p := range rules.ValidateSpec(spec, now) {
		field := formField(p.Field)
		if _, taken := errs[field]; !taken {
			errs[field] = sentence(p.Message)
		}
	}
	if msg, ok := errs["form"]; ok {
		errs["form"] = "With the people the directory has now, the policy cannot be met: " + msg + " Ask an admin to fix the template or the directory."
	}
	return spec, errs
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
// the composer's input it is about; the template's part is the form's.
func formField(field string) string {
	switch {
	case field == "id":
		return "name"
	case field == "artifact.name":
		return "artifact_name"
	case strings.HasPrefix(field, "artifact."):
		return strings.TrimPrefix(field, "artifact.")
	case field == "title" || field == "description" || field == "deadline":
		return field
	case field == "intune" || field == "intune.appId":
		return "intune_app"
	case strings.HasPrefix(field, "intune.groups"):
		return "intune_groups"
	case field == "intune.onRevoke":
		return "intune_on_revoke"
	}
	return "form"
}

// sentence makes a rules message read as a sentence on a form.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// assuranceHint says what a minimum assurance asks of a witness.
func assuranceHint(a contract.Assurance) string {
	switch a {
	case contract.AssuranceKey:
		return ": with a registered passkey or ed25519 key"
	case contract.AssuranceSession:
		return ": in a web login"
	}
	return ""
}
