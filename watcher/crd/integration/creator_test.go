// Package integration_test runs crd.Creator — the web composer's cluster mode —
// against a real kube-apiserver + etcd (internal/kubetest: the CRDs from
// deploy/crds, RBAC on), impersonating the web's ServiceAccount from
// deploy/k8s/45-web-rbac.yaml, so the Role is proven sufficient for the code and
// no broader than it. Nothing is skipped: missing binaries fail with the command
// that builds them.
package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/kubetest"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/watcher"
	"github.com/guildhouse/guildhall/watcher/crd"
)

const (
	saNamespace = "guildhall" // the web's ServiceAccount, and GUILDHALL_CEREMONY_NAMESPACE
	saName      = "guildhall-web"
	digest      = "sha256:4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"
)

var (
	kube  *kubetest.Server
	saCfg *rest.Config // the web's ServiceAccount, by impersonation
	seq   atomic.Int64
)

func TestMain(m *testing.M) {
	klog.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if kube, saCfg, err = kubetest.StartAs(ctx, "45-web-rbac.yaml", saNamespace, saName); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer kube.Stop()
	return m.Run()
}

func admin() dynamic.Interface { return dynamic.NewForConfigOrDie(kube.Config) }

// composed is a spec as the composer builds it, under a fresh name.
func composed(ns string) contract.Spec {
	return contract.Spec{
		ID: crd.CeremonyID(ns, fmt.Sprintf("release-web-%d", seq.Add(1))), Kind: contract.KindRelease,
		Title: "Release web v1.4.0", Description: "Composed in the web.", Initiator: "dora@guildhouse.dev", Source: "web",
		Artifact: contract.Artifact{Name: "guildhall-web", Digest: digest, URI: "oci://registry.guildhouse.dev/guildhall/web:v1.4.0"},
		Witnesses: []contract.WitnessRef{
			{ID: "alice@guildhouse.dev", Role: "maintainer"}, {ID: "bob@guildhouse.dev", Role: "maintainer"},
			{ID: "carol@guildhouse.dev", Role: "security"},
		},
		Quorum:   contract.Quorum{Threshold: 2, Roles: map[string]int{"maintainer": 1}, Veto: []string{"security"}},
		Deadline: time.Now().Add(72 * time.Hour).Truncate(time.Minute).UTC(),
	}
}

// TestCreatorAsWebServiceAccount: under the web's ServiceAccount, the composer's
// spec becomes a Ceremony that the CRD schema admits, the watcher's checks accept,
// and the watcher's conversion turns back into the same spec; a second create of
// the name is refused in plain words; the start-up check passes and stores nothing.
func TestCreatorAsWebServiceAccount(t *testing.T) {
	ctx := context.Background()
	c := &crd.Creator{Dynamic: dynamic.NewForConfigOrDie(saCfg)}
	spec := composed(saNamespace)
	if err := c.CreateCeremony(ctx, spec); err != nil {
		t.Fatalf("create as %s/%s: %v", saNamespace, saName, err)
	}
	ns, name, _ := strings.Cut(spec.ID, "/")
	got, err := admin().Resource(crd.CeremonyGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Ceremony does not exist: %v", err)
	}
	back, problems := watcher.Validate(got, time.Now())
	if len(problems) > 0 {
		t.Fatalf("the watcher would refuse it: %v", problems)
	}
	want := spec
	want.Source, want.Generation = crd.Source, 1
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("the watcher reads\n %+v\nwant\n %+v", back, want)
	}
	if mf := got.GetManagedFields(); len(mf) != 1 || mf[0].Manager != crd.DefaultFieldManager {
		t.Errorf("managedFields %+v, want one entry by %s", mf, crd.DefaultFieldManager)
	}

	err = c.CreateCeremony(ctx, spec)
	if !errors.Is(err, crd.ErrCeremonyExists) || strings.Contains(err.Error(), ": ") {
		t.Fatalf("second create: %v, want ErrCeremonyExists in plain words", err)
	}
	t.Logf("second create: %v", err)

	if err := c.Check(ctx, saNamespace); err != nil {
		t.Fatalf("start-up check: %v", err)
	}
	list, err := admin().Resource(crd.CeremonyGVR).Namespace(saNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list.Items {
		if strings.Contains(u.GetName(), "check") {
			t.Errorf("the dry-run check stored %s", u.GetName())
		}
	}
}

// TestCreatorFromTemplate: a spec the composer made from a template becomes a
// Ceremony naming the template at its version, without witnesses and quorum,
// which the CRD admits and the watcher reads as a spec for the workflow to
// complete from that template version.
func TestCreatorFromTemplate(t *testing.T) {
	ctx := context.Background()
	c := &crd.Creator{Dynamic: dynamic.NewForConfigOrDie(saCfg)}
	spec := composed(saNamespace)
	spec.Template = &contract.TemplateRef{Name: "release", Version: 4}
	if err := c.CreateCeremony(ctx, spec); err != nil {
		t.Fatalf("create: %v", err)
	}
	ns, name, _ := strings.Cut(spec.ID, "/")
	got, err := admin().Resource(crd.CeremonyGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, problems := watcher.Validate(got, time.Now())
	if len(problems) > 0 || back.Template == nil || *back.Template != *spec.Template || len(back.Witnesses) != 0 || !rules.FromTemplate(back) {
		t.Fatalf("the watcher reads %+v (problems %v)", back, problems)
	}
}

// TestWebServiceAccountCannot: the web's ServiceAccount can do nothing but create
// Ceremonies in its namespace — not read, change or delete them, not create them
// elsewhere, not write attestations, and never touch Secrets.
func TestWebServiceAccountCannot(t *testing.T) {
	ctx := context.Background()
	spec := composed(saNamespace)
	if err := (&crd.Creator{Dynamic: admin()}).CreateCeremony(ctx, spec); err != nil {
		t.Fatal(err)
	}
	_, name, _ := strings.Cut(spec.ID, "/")
	adminKube := kubernetes.NewForConfigOrDie(kube.Config)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "guildhall-secrets"}, StringData: map[string]string{"SESSION_SECRET": "x"}}
	if _, err := adminKube.CoreV1().Secrets(saNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	elsewhere := "elsewhere"
	if err := kubetest.EnsureNamespace(ctx, admin(), elsewhere); err != nil {
		t.Fatal(err)
	}

	dyn := dynamic.NewForConfigOrDie(saCfg)
	kc := kubernetes.NewForConfigOrDie(saCfg)
	cer := dyn.Resource(crd.CeremonyGVR).Namespace(saNamespace)
	att := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	att.SetGroupVersionKind(crd.AttestationGVK)
	att.SetName(name)
	for what, call := range map[string]func() error{
		"get a Ceremony":    func() error { _, err := cer.Get(ctx, name, metav1.GetOptions{}); return err },
		"list Ceremonies":   func() error { _, err := cer.List(ctx, metav1.ListOptions{}); return err },
		"watch Ceremonies":  func() error { w, err := cer.Watch(ctx, metav1.ListOptions{}); stopWatch(w); return err },
		"delete a Ceremony": func() error { return cer.Delete(ctx, name, metav1.DeleteOptions{}) },
		"delete Ceremonies": func() error { return cer.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}) },
		"patch a Ceremony": func() error {
			_, err := cer.Patch(ctx, name, "application/merge-patch+json", []byte(`{"spec":{"description":"x"}}`), metav1.PatchOptions{})
			return err
		},
		"update its status": func() error { _, err := cer.UpdateStatus(ctx, att, metav1.UpdateOptions{}); return err },
		"write an attestation": func() error {
			_, err := dyn.Resource(crd.AttestationGVR).Namespace(saNamespace).Create(ctx, att, metav1.CreateOptions{})
			return err
		},
		"get a Secret": func() error {
			_, err := kc.CoreV1().Secrets(saNamespace).Get(ctx, sec.Name, metav1.GetOptions{})
			return err
		},
		"list Secrets":     func() error { _, err := kc.CoreV1().Secrets(saNamespace).List(ctx, metav1.ListOptions{}); return err },
		"list all Secrets": func() error { _, err := kc.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err },
		"create a Secret": func() error {
			_, err := kc.CoreV1().Secrets(saNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("the web's ServiceAccount could %s (err %v), want Forbidden", what, err)
		}
	}

	c := &crd.Creator{Dynamic: dyn}
	if err := c.CreateCeremony(ctx, composed(elsewhere)); !errors.Is(err, crd.ErrNotAllowed) || strings.Contains(err.Error(), ": ") {
		t.Errorf("create in namespace %s: %v, want ErrNotAllowed in plain words", elsewhere, err)
	} else {
		t.Logf("create elsewhere: %v", err)
	}
	if err := c.Check(ctx, elsewhere); !errors.Is(err, crd.ErrNotAllowed) {
		t.Errorf("start-up check in %s: %v, want ErrNotAllowed", elsewhere, err)
	}
}

func stopWatch(w interface{ Stop() }) {
	if w != nil && !reflect.ValueOf(w).IsNil() {
		w.Stop()
	}
}

// TestCreatorSchemaRefusal: what the CRD's schema refuses comes back as ErrRefused
// in plain words naming the field (the composer checks first, so this is for a
// substrate CRD stricter than the composer).
func TestCreatorSchemaRefusal(t *testing.T) {
	c := &crd.Creator{Dynamic: dynamic.NewForConfigOrDie(saCfg)}
	spec := composed(saNamespace)
	spec.Quorum.Threshold = 5 // more than the three witnesses: a CEL rule of the CRD
	err := c.CreateCeremony(context.Background(), spec)
	if !errors.Is(err, crd.ErrRefused) || !strings.Contains(err.Error(), "quorum.threshold") || strings.Contains(err.Error(), ": ") {
		t.Fatalf("error %v, want ErrRefused naming quorum.threshold in plain words", err)
	}
	t.Logf("refused: %v", err)
}

// TestCreatorIntuneTarget: a release's Intune target passes the CRD schema and
// comes back to the watcher as it was; an intent the schema does not know is
// refused naming the field.
func TestCreatorIntuneTarget(t *testing.T) {
	ctx := context.Background()
	c := &crd.Creator{Dynamic: dynamic.NewForConfigOrDie(saCfg)}
	spec := composed(saNamespace)
	spec.Intune = &contract.IntuneTarget{AppID: "0177548a-548a-0177-8a54-77018a547701", OnRevoke: contract.IntuneRevokeRemove,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: contract.IntuneAvailable}}}
	if err := c.CreateCeremony(ctx, spec); err != nil {
		t.Fatalf("create with an Intune target: %v", err)
	}
	ns, name, _ := strings.Cut(spec.ID, "/")
	got, err := admin().Resource(crd.CeremonyGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, problems := watcher.Validate(got, time.Now())
	if len(problems) > 0 || !reflect.DeepEqual(back.Intune, spec.Intune) {
		t.Fatalf("the watcher reads %+v (%v)", back.Intune, problems)
	}
	bad := composed(saNamespace)
	bad.Intune = &contract.IntuneTarget{AppID: spec.Intune.AppID, OnRevoke: contract.IntuneRevokeRemove,
		Groups: []contract.IntuneGroup{{GroupID: "11111111-2222-3333-4444-555555555555", Intent: "install"}}}
	if err := c.CreateCeremony(ctx, bad); !errors.Is(err, crd.ErrRefused) || !strings.Contains(err.Error(), "intune.groups[0].intent") {
		t.Fatalf("bad intent: %v, want ErrRefused naming intune.groups[0].intent", err)
	}
}
