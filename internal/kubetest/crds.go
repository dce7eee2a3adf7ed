package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// InstallCRDs creates every CustomResourceDefinition in dir (*.yaml, one document
// each) and waits until each is Established and its resource is served. It goes
// through the dynamic client so the project needs no apiextensions client module.
func InstallCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRD manifests in %s (%v)", dir, err)
	}
	var crds []*unstructured.Unstructured
	for _, f := range files {
		crd, err := readObject(f)
		if err != nil {
			return err
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD from %s: %w", f, err)
		}
		crds = append(crds, crd)
	}
	for _, crd := range crds {
		if err := waitServed(ctx, dyn, crd); err != nil {
			return err
		}
	}
	return nil
}

func readObject(path string) (*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.UnmarshalStrict(b, &obj); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// waitServed waits for the Established condition and then for a list of the new
// resource to succeed: Established can precede the handler's registration by a moment.
func waitServed(ctx context.Context, dyn dynamic.Interface, crd *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if len(versions) == 0 {
		return fmt.Errorf("CRD %s has no versions", crd.GetName())
	}
	version, _, _ := unstructured.NestedString(versions[0].(map[string]any), "name")
	gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
	var last error
	for {
		last = servedErr(ctx, dyn, crd.GetName(), gvr)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not served: %v", crd.GetName(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func servedErr(ctx context.Context, dyn dynamic.Interface, name string, gvr schema.GroupVersionResource) error {
	got, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	established := false
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			established = true
		}
	}
	if !established {
		return fmt.Errorf("not Established yet")
	}
	if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("list %s: %w", strings.Join([]string{gvr.Resource, gvr.Group}, "."), err)
	}
	return nil
}
