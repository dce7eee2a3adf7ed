package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// Apply creates every object of a multi-document YAML manifest, creating missing
// namespaces first; objects that already exist are left as they are.
func Apply(ctx context.Context, cfg *rest.Config, path string) error {
	objs, err := readManifest(path)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := create(ctx, dyn, mapper, o); err != nil {
			return fmt.Errorf("%s: %s %s: %w", path, o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

func create(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if err := EnsureNamespace(ctx, dyn, o.GetNamespace()); err != nil {
			return err
		}
		ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	if _, err := ri.Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// EnsureNamespace creates namespace ns unless it exists.
func EnsureNamespace(ctx context.Context, dyn dynamic.Interface, ns string) error {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	_, err := dyn.Resource(namespaceGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

func readManifest(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// ImpersonateServiceAccount returns a copy of cfg acting as the ServiceAccount, with
// the groups the API server gives service-account tokens, so RBAC decides exactly
// as it would for a pod running under it.
func ImpersonateServiceAccount(cfg *rest.Config, namespace, name string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	return c
}

// StartAs starts a server (Start), applies the RBAC manifest deploy/k8s/<rbac>
// of this module, and returns the server with a config that acts as the
// ServiceAccount namespace/name, so a test exercises exactly the permissions
// the deployment grants. Call Stop on the server when done.
func StartAs(ctx context.Context, rbac, namespace, name string) (*Server, *rest.Config, error) {
	s, err := Start(ctx, Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	root, err := ModuleRoot()
	manifest := filepath.Join(root, "deploy", "k8s", rbac)
	if err == nil {
		err = Apply(ctx, s.Config, manifest)
	}
	if err != nil {
		s.Stop()
		return nil, nil, fmt.Errorf("apply %s: %w", rbac, err)
	}
	sa := ImpersonateServiceAccount(s.Config, namespace, name)
	if err := waitGranted(ctx, s.Config, sa, manifest); err != nil {
		s.Stop()
		return nil, nil, err
	}
	return s, sa, nil
}
