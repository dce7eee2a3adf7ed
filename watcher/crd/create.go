package crd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/guildhouse/guildhall/contract"
)

// AnnotationTitle carries a ceremony's title on its Ceremony resource: the CRD's
// spec has no title (the substrate owns the schema), and an annotation is the place
// for what only Guildhall reads. ContractSpec reads it back, clipped to MaxTitle.
const AnnotationTitle = "guildhall.guildhouse.dev/title"

// MaxTitle is the longest title a ceremony keeps (the workflow refuses longer).
const MaxTitle = 200

// DefaultFieldManager names the web as the writer in a created Ceremony's
// managedFields.
const DefaultFieldManager = "guildhall-web"

// Rule is one RBAC permission the code needs (same shape as attest.Rule).
type Rule struct {
	Group    string
	Resource string
	Verbs    []string
}

// CreatorRules are exactly the API calls Creator makes; the Role of the
// guildhall-web ServiceAccount in deploy/k8s/45-web-rbac.yaml is checked against
// them, and the integration tests run Creator impersonating that ServiceAccount.
var CreatorRules = []Rule{
	// Create only (Check is a dry-run create): the web never reads, changes or
	// deletes a Ceremony; the substrate and the watcher take it from there.
	{Group: Group, Resource: "ceremonies", Verbs: []string{"create"}},
}

// Errors CreateCeremony's errors match with errors.Is. The error texts themselves
// are short plain words a witness can act on, with no "prefix: " in front, so the
// composer can show them as they are (it logs the ceremony id and the API
// server's error beside them).
var (
	// ErrCeremonyExists: the name is taken — by a Ceremony resource, or by a
	// ceremony opened before under the same id (Creator.InUse).
	ErrCeremonyExists = contract.ErrCeremonyExists
	// ErrNotAllowed: the cluster's RBAC refuses the create.
	ErrNotAllowed = errors.New("not allowed to create Ceremonies")
	// ErrRefused: the API server refused the resource (schema, namespace, CRD missing).
	ErrRefused = errors.New("the cluster refused the Ceremony")
)

// createError is a refusal in plain words; errors.Is matches its kind and, through
// Unwrap, the API server's error.
type createError struct {
	kind  error
	msg   string
	cause error
}

func (e *createError) Error() string        { return e.msg }
func (e *createError) Is(target error) bool { return target == e.kind }
func (e *createError) Unwrap() error        { return e.cause }

// Creator creates Ceremony resources from ceremony specs: the web's composer in
// cluster mode (web.CeremonyCreator). The resource is then the source of truth and
// the watcher starts the workflow from it, exactly as for a Ceremony applied with
// kubectl, so the workflow's Spec.Source is "cluster" and the result is attested
// back to the resource.
type Creator struct {
	Dynamic dynamic.Interface
	// FieldManager is recorded in managedFields; default DefaultFieldManager.
	FieldManager string
	// InUse, when set, reports whether a ceremony id was used before (the Ops DB
	// keeps every ceremony ever opened). Such an id is refused up front: one
	// workflow id names one ceremony forever, so the watcher would refuse the new
	// resource (WorkflowIDInUse) after the composer had already said yes.
	InUse func(ctx context.Context, ceremonyID string) (bool, error)
}

// CreateCeremony creates the Ceremony resource for spec in the namespace and with
// the name of spec.ID ("<namespace>/<name>").
func (c *Creator) CreateCeremony(ctx context.Context, spec contract.Spec) error {
	obj, err := NewCeremony(spec)
	if err != nil {
		return err
	}
	if c.InUse != nil {
		used, err := c.InUse(ctx, spec.ID)
		if err != nil {
			return fmt.Errorf("check whether ceremony %s was opened before: %w", spec.ID, err)
		}
		if used {
			return &createError{kind: ErrCeremonyExists,
				msg: "an earlier ceremony used this name, and names are never reused; choose another name"}
		}
	}
	_, err = c.Dynamic.Resource(CeremonyGVR).Namespace(obj.GetNamespace()).Create(ctx, obj, c.createOptions(false))
	return c.explain(obj, err)
}

// Check confirms that Ceremonies can be created in namespace, with a dry-run
// create of a valid Ceremony that is never stored (same RBAC verb, same admission
// and schema checks). The web calls it at start-up to report a misconfigured
// cluster mode before a witness meets it.
func (c *Creator) Check(ctx context.Context, namespace string) error {
	obj, err := NewCeremony(contract.Spec{
		ID: CeremonyID(namespace, "guildhall-web-check"), Kind: contract.KindRelease,
		Artifact:  contract.Artifact{Name: "guildhall-web-check", Digest: "sha256:" + strings.Repeat("0", 64)},
		Initiator: "guildhall-web", Witnesses: []contract.WitnessRef{{ID: "guildhall-web-check"}},
		Quorum: contract.Quorum{Threshold: 1}, Deadline: time.Now().Add(time.Hour),
	})
	if err != nil {
		return err
	}
	_, err = c.Dynamic.Resource(CeremonyGVR).Namespace(namespace).Create(ctx, obj, c.createOptions(true))
	if apierrors.IsAlreadyExists(err) {
		return nil // authorization and admission come first: it would have been allowed
	}
	return c.explain(obj, err)
}

func (c *Creator) createOptions(dryRun bool) metav1.CreateOptions {
	o := metav1.CreateOptions{
		FieldManager: c.FieldManager,
		// An unknown field is an error, not silently dropped: what the witness
		// composed is what the cluster holds, or nothing is created.
		FieldValidation: metav1.FieldValidationStrict,
	}
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if dryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

// explain turns the API server's answer into plain words.
func (c *Creator) explain(obj *unstructured.Unstructured, err error) error {
	ns, name := obj.GetNamespace(), obj.GetName()
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		return &createError{kind: ErrCeremonyExists, cause: err,
			msg: "a Ceremony with this name already exists in the cluster; choose another name"}
	case apierrors.IsForbidden(err):
		return &createError{kind: ErrNotAllowed, cause: err,
			msg: fmt.Sprintf("Guildhall may not create Ceremonies in namespace %s (an operator must grant it)", ns)}
	case apierrors.IsUnauthorized(err):
		return &createError{kind: ErrNotAllowed, cause: err,
			msg: "the cluster did not accept Guildhall's credentials (is the web's service account token mounted?)"}
	case apierrors.IsNotFound(err):
		if errors.As(err, &status) && status.Status().Details != nil && status.Status().Details.Kind == "namespaces" {
			return &createError{kind: ErrRefused, cause: err, msg: fmt.Sprintf("namespace %s does not exist in the cluster", ns)}
		}
		return &createError{kind: ErrRefused, cause: err,
			msg: "the cluster does not know the Ceremony resource (are the substrate's CRDs installed?)"}
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return &createError{kind: ErrRefused, cause: err, msg: "the cluster refused the Ceremony (" + causes(err) + ")"}
	}
	return fmt.Errorf("create Ceremony %s/%s: %w", ns, name, err)
}

// causes lists the API server's field errors without ": ", which the composer reads
// as the start of the interesting part.
func causes(err error) string {
	var parts []string
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			parts = append(parts, strings.TrimSpace(c.Field+" "+c.Message))
		}
	}
	if len(parts) == 0 {
		parts = []string{err.Error()}
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), ": ", " - ")
}

// NewCeremony builds the Ceremony resource for spec: namespace and name from
// spec.ID, the spec fields the CRD declares, and the title as AnnotationTitle.
// DecodeSpec and ContractSpec read it back to spec, except that Source becomes
// "cluster" and Generation the resource's (TestCreatorRoundTrip).
func NewCeremony(spec contract.Spec) (*unstructured.Unstructured, error) {
	ns, name, ok := strings.Cut(spec.ID, "/")
	if !ok || strings.Contains(name, "/") {
		return nil, fmt.Errorf("ceremony id %q is not <namespace>/<name>", spec.ID)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q of ceremony %s is not a Kubernetes namespace name (%s)", ns, spec.ID, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("name %q of ceremony %s is not a Kubernetes resource name (%s)", name, spec.ID, strings.Join(errs, "; "))
	}
	if spec.Deadline.IsZero() {
		return nil, fmt.Errorf("ceremony %s has no deadline", spec.ID)
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptr(SpecFromContract(spec)))
	if err != nil {
		return nil, fmt.Errorf("encode the spec of ceremony %s: %w", spec.ID, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": raw}}
	u.SetGroupVersionKind(CeremonyGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	if spec.Title != "" {
		u.SetAnnotations(map[string]string{AnnotationTitle: spec.Title})
	}
	return u, nil
}

// SpecFromContract is the inverse of ContractSpec for the fields the CRD holds.
// A spec made from a template becomes a Ceremony naming that template at its
// version, without witnesses and quorum (the CRD takes one or the other): the
// workflow completes it from the same template version.
func SpecFromContract(s contract.Spec) CeremonySpec {
	cs := CeremonySpec{
		Kind: s.Kind, Artifact: s.Artifact, Initiator: s.Initiator, Witnesses: s.Witnesses,
		Quorum: s.Quorum, Deadline: s.Deadline.UTC().Format(time.RFC3339Nano), Description: s.Description,
		Intune: s.Intune,
	}
	if s.Template != nil {
		cs.Template, cs.Witnesses, cs.Quorum = s.Template, nil, contract.Quorum{}
	}
	return cs
}

// title reads AnnotationTitle, clipped to MaxTitle bytes on a character boundary
// (an annotation written by hand may be longer than a workflow accepts).
func title(obj *unstructured.Unstructured) string {
	t := strings.TrimSpace(obj.GetAnnotations()[AnnotationTitle])
	if len(t) <= MaxTitle {
		return t
	}
	end := 0
	for i := range t { // i runs over the starts of characters
		if i > MaxTitle {
			break
		}
		end = i
	}
	return t[:end]
}

func ptr[T any](v T) *T { return &v }
