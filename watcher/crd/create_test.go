package crd

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/guildhouse/guildhall/contract"
)

const testDigest = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"

func fakeDynamic() *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{CeremonyGVR: "CeremonyList"})
}

// roundTripSpecs are specs as the composer builds them, with every optional part
// present or absent.
func roundTripSpecs() map[string]contract.Spec {
	full := contract.Spec{
		ID: "guildhall/release-v1-4-0", Kind: contract.KindRelease, Title: "Release web v1.4.0 — «final»",
		Description: "Ship it.\nSecond line.", Initiator: "dora@guildhouse.dev", Source: "web",
		Artifact: contract.Artifact{Name: "guildhall-web", Digest: testDigest, URI: "oci://registry.guildhouse.dev/guildhall/web:v1.4.0"},
		Witnesses: []contract.WitnessRef{
			{ID: "alice@guildhouse.dev", Role: "maintainer"}, {ID: "bob@guildhouse.dev", Role: "maintainer"},
			{ID: "carol@guildhouse.dev", Role: "security"}, {ID: "erin@guildhouse.dev"},
		},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"maintainer": 1, "security": 1}, Veto: []string{"security"}},
		Deadline: time.Date(2031, 2, 3, 4, 5, 6, 789000000, time.FixedZone("CEST", 2*3600)),
		Intune: &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeUninstall,
			Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneRequired}}},
	}
	minimal := contract.Spec{
		ID: "web/key-rotation-3f2a1b", Kind: contract.KindKeyRotation, Initiator: "dora",
		Artifact:  contract.Artifact{Name: "signing key", Digest: testDigest},
		Witnesses: []contract.WitnessRef{{ID: "alice"}},
		Quorum:    contract.Quorum{Threshold: 1},
		Deadline:  time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	return map[string]contract.Spec{"full": full, "minimal": minimal}
}

// TestCreatorRoundTrip: spec → Ceremony resource (Creator, through JSON as the API
// server stores it) → the watcher's own conversion (DecodeSpec, ContractSpec) →
// the same spec. Only Source ("cluster": the watcher starts the workflow from the
// resource) and Generation (the resource's) differ, by design.
func TestCreatorRoundTrip(t *testing.T) {
	for name, spec := range roundTripSpecs() {
		t.Run(name, func(t *testing.T) {
			dyn := fakeDynamic()
			c := &Creator{Dynamic: dyn}
			if err := c.CreateCeremony(context.Background(), spec); err != nil {
				t.Fatal(err)
			}
			ns, n, _ := strings.Cut(spec.ID, "/")
			stored, err := dyn.Resource(CeremonyGVR).Namespace(ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// What the watcher's informer sees: the object as JSON from the API server.
			b, err := stored.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			seen := &unstructured.Unstructured{}
			if err := seen.UnmarshalJSON(b); err != nil {
				t.Fatal(err)
			}
			seen.SetGeneration(1)
			if seen.GroupVersionKind() != CeremonyGVK {
				t.Errorf("GVK %v", seen.GroupVersionKind())
			}
			raw, err := DecodeSpec(seen)
			if err != nil {
				t.Fatal(err)
			}
			got := ContractSpec(seen, raw)
			want := spec
			want.Deadline, want.Source, want.Generation = spec.Deadline.UTC(), Source, 1
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip changed the spec\n got %+v\nwant %+v\nresource %s", got, want, b)
			}
		})
	}
}

// The resource holds exactly the fields the CRD schema declares, with the types
// it declares (integers, RFC 3339 deadline), and nothing for empty optional parts.
func TestNewCeremonyShape(t *testing.T) {
	u, err := NewCeremony(roundTripSpecs()["minimal"])
	if err != nil {
		t.Fatal(err)
	}
	if u.GetNamespace() != "web" || u.GetName() != "key-rotation-3f2a1b" || u.GetAPIVersion() != Group+"/"+Version || u.GetKind() != "Ceremony" {
		t.Fatalf("object %s/%s %s %s", u.GetNamespace(), u.GetName(), u.GetAPIVersion(), u.GetKind())
	}
	if len(u.GetAnnotations()) != 0 {
		t.Errorf("annotations %v without a title", u.GetAnnotations())
	}
	want := map[string]any{
		"kind":      "key-rotation",
		"artifact":  map[string]any{"name": "signing key", "digest": testDigest},
		"initiator": "dora",
		"witnesses": []any{map[string]any{"id": "alice"}},
		"quorum":    map[string]any{"threshold": int64(1)},
		"deadline":  "2031-01-01T00:00:00Z",
	}
	if !reflect.DeepEqual(u.Object["spec"], want) {
		t.Fatalf("spec\n got %#v\nwant %#v", u.Object["spec"], want)
	}
	full, err := NewCeremony(roundTripSpecs()["full"])
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := unstructured.NestedString(full.Object, "spec", "deadline"); d != "2031-02-03T02:05:06.789Z" {
		t.Errorf("deadline %q, want UTC RFC 3339", d)
	}
	if m, _, _ := unstructured.NestedInt64(full.Object, "spec", "quorum", "roles", "maintainer"); m != 1 {
		t.Errorf("quorum.roles.maintainer %v", m)
	}
	if full.GetAnnotations()[AnnotationTitle] != "Release web v1.4.0 — «final»" {
		t.Errorf("annotations %v", full.GetAnnotations())
	}
}

func TestNewCeremonyRefusesBadIDs(t *testing.T) {
	base := roundTripSpecs()["minimal"]
	for _, id := range []string{"", "noslash", "a/b/c", "/name", "ns/", "Web/x", "web/Upper", "web/under_score"} {
		s := base
		s.ID = id
		if _, err := NewCeremony(s); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	s := base
	s.Deadline = time.Time{}
	if _, err := NewCeremony(s); err == nil {
		t.Error("zero deadline accepted")
	}
}

func TestTitleClipped(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	long := strings.Repeat("a", MaxTitle-1) + "é" + "tail" // é straddles the limit
	u.SetAnnotations(map[string]string{AnnotationTitle: long})
	if got := title(u); got != strings.Repeat("a", MaxTitle-1) {
		t.Errorf("clipped to %d bytes %q", len(got), got[len(got)-3:])
	}
	u.SetAnnotations(map[string]string{AnnotationTitle: strings.Repeat("b", MaxTitle+5)})
	if got := title(u); len(got) != MaxTitle {
		t.Errorf("clipped to %d bytes", len(got))
	}
	u.SetAnnotations(map[string]string{AnnotationTitle: "  short  "})
	if got := title(u); got != "short" {
		t.Errorf("title %q", got)
	}
}

// The API server's refusals become plain words (no "prefix: ", which the composer
// would cut at) that match the exported errors.
func TestCreatorErrors(t *testing.T) {
	gr := CeremonyGVR.GroupResource()
	for name, tc := range map[string]struct {
		apiErr error
		is     error
		words  string
	}{
		"exists":       {apierrors.NewAlreadyExists(gr, "key-rotation-3f2a1b"), ErrCeremonyExists, "already exists in the cluster; choose another name"},
		"forbidden":    {apierrors.NewForbidden(gr, "key-rotation-3f2a1b", errors.New("RBAC: nope")), ErrNotAllowed, "may not create Ceremonies in namespace web"},
		"unauthorized": {apierrors.NewUnauthorized("token expired"), ErrNotAllowed, "did not accept Guildhall's credentials"},
		"no namespace": {apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "web"), ErrRefused, "namespace web does not exist"},
		"no CRD":       {apierrors.NewNotFound(gr, "key-rotation-3f2a1b"), ErrRefused, "CRDs installed"},
		"invalid": {apierrors.NewInvalid(CeremonyGVK.GroupKind(), "key-rotation-3f2a1b", field.ErrorList{
			field.Invalid(field.NewPath("spec", "artifact", "digest"), "sha256:x", "should match '^sha256:[a-f0-9]{64}$'")}),
			ErrRefused, "the cluster refused the Ceremony (spec.artifact.digest Invalid value - \"sha256:x\" - should match"},
	} {
		t.Run(name, func(t *testing.T) {
			dyn := fakeDynamic()
			dyn.PrependReactor("create", "ceremonies", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.apiErr
			})
			err := (&Creator{Dynamic: dyn}).CreateCeremony(context.Background(), roundTripSpecs()["minimal"])
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.words) || strings.Contains(err.Error(), ": ") || (name != "invalid" && len(err.Error()) > 120) {
				t.Errorf("error %q: want plain words containing %q, no \": \", at most 120 bytes (the composer cuts there)", err, tc.words)
			}
			if !errors.Is(err, tc.apiErr) {
				t.Errorf("error %v does not wrap the API error", err)
			}
		})
	}
	// Anything else keeps the API server's words at the end.
	dyn := fakeDynamic()
	dyn.PrependReactor("create", "ceremonies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is sad")
	})
	err := (&Creator{Dynamic: dyn}).CreateCeremony(context.Background(), roundTripSpecs()["minimal"])
	if err == nil || !strings.HasSuffix(err.Error(), ": etcd is sad") || errors.Is(err, ErrRefused) {
		t.Errorf("error %v", err)
	}
}

func TestCreatorInUse(t *testing.T) {
	dyn := fakeDynamic()
	var asked string
	c := &Creator{Dynamic: dyn, InUse: func(_ context.Context, id string) (bool, error) { asked = id; return true, nil }}
	spec := roundTripSpecs()["minimal"]
	err := c.CreateCeremony(context.Background(), spec)
	if !errors.Is(err, ErrCeremonyExists) || strings.Contains(err.Error(), ": ") || asked != spec.ID {
		t.Fatalf("error %v (asked %q)", err, asked)
	}
	if l, _ := dyn.Resource(CeremonyGVR).Namespace("web").List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Fatalf("created %d resources for an id in use", len(l.Items))
	}
	c.InUse = func(context.Context, string) (bool, error) { return false, errors.New("db down") }
	if err := c.CreateCeremony(context.Background(), spec); err == nil || errors.Is(err, ErrCeremonyExists) {
		t.Fatalf("error %v", err)
	}
	c.InUse = func(context.Context, string) (bool, error) { return false, nil }
	if err := c.CreateCeremony(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

// Create options: strict field validation, the field manager, and a dry run for
// Check only.
func TestCreatorOptions(t *testing.T) {
	dyn := fakeDynamic()
	var opts []metav1.CreateOptions
	dyn.PrependReactor("create", "ceremonies", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts = append(opts, a.(k8stesting.CreateActionImpl).GetCreateOptions())
		return false, nil, nil
	})
	c := &Creator{Dynamic: dyn}
	if err := c.CreateCeremony(context.Background(), roundTripSpecs()["minimal"]); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background(), "guildhall"); err != nil {
		t.Fatal(err)
	}
	if len(opts) != 2 {
		t.Fatalf("%d creates", len(opts))
	}
	for i, o := range opts {
		if o.FieldValidation != metav1.FieldValidationStrict || o.FieldManager != DefaultFieldManager {
			t.Errorf("create %d options %+v", i, o)
		}
	}
	if len(opts[0].DryRun) != 0 || len(opts[1].DryRun) != 1 || opts[1].DryRun[0] != metav1.DryRunAll {
		t.Errorf("dry run %v / %v, want only Check's", opts[0].DryRun, opts[1].DryRun)
	}
}
