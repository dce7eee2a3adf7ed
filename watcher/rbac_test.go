package watcher

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/guildhouse/guildhall/watcher/attest"
)

// RBACFile is the manifest holding the watcher's ServiceAccount and roles.
const RBACFile = "../deploy/k8s/60-watcher-rbac.yaml"

// ServiceAccount the watcher Deployment runs as.
const (
	ServiceAccountNamespace = "guildhall"
	ServiceAccountName      = "guildhall-watcher"
)

// grant is one (scope, group, resource, verb, resourceName) permission.
type grant struct{ scope, group, resource, verb, name string }

func (g grant) String() string {
	s := g.scope + " " + g.group + "/" + g.resource + " " + g.verb
	if g.name != "" {
		s += " name=" + g.name
	}
	return s
}

func expand(scope string, groups, resources, verbs, names []string) []grant {
	if len(names) == 0 {
		names = []string{""}
	}
	var out []grant
	for _, g := range groups {
		for _, r := range resources {
			for _, v := range verbs {
				for _, n := range names {
					out = append(out, grant{scope, g, r, v, n})
				}
			}
		}
	}
	return out
}

// codeGrants are the permissions the code declares it uses: the watcher's own and
// the attestation writer's, which runs in the watcher pods.
func codeGrants() []grant {
	var out []grant
	for _, r := range Rules {
		scope := "cluster"
		if r.Namespaced {
			scope = "namespace"
		}
		out = append(out, expand(scope, []string{r.Group}, []string{r.Resource}, r.Verbs, r.ResourceNames)...)
	}
	for _, r := range attest.Rules {
		out = append(out, expand("cluster", []string{r.Group}, []string{r.Resource}, r.Verbs, nil)...)
	}
	return normalize(out)
}

func normalize(gs []grant) []grant {
	sort.Slice(gs, func(i, j int) bool { return gs[i].String() < gs[j].String() })
	return slices.Compact(gs)
}

// manifestObjects decodes every document of path strictly with client-go's scheme.
func manifestObjects(t *testing.T, path string) []runtime.Object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		out = append(out, obj)
	}
}

// manifestGrants are the permissions the manifest gives the watcher's ServiceAccount.
func manifestGrants(t *testing.T, objs []runtime.Object) []grant {
	t.Helper()
	clusterRoles, roles := map[string][]rbacv1.PolicyRule{}, map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			clusterRoles[o.Name] = o.Rules
		case *rbacv1.Role:
			roles[o.Namespace+"/"+o.Name] = o.Rules
		}
	}
	var out []grant
	add := func(scope string, rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			out = append(out, expand(scope, r.APIGroups, r.Resources, r.Verbs, r.ResourceNames)...)
		}
	}
	for _, o := range objs {
		switch b := o.(type) {
		case *rbacv1.ClusterRoleBinding:
			if boundToWatcher(b.Subjects) {
				add("cluster", clusterRoles[b.RoleRef.Name])
			}
		case *rbacv1.RoleBinding:
			if !boundToWatcher(b.Subjects) {
				continue
			}
			if b.Namespace != ServiceAccountNamespace {
				t.Errorf("RoleBinding %s/%s outside the watcher's namespace", b.Namespace, b.Name)
			}
			if b.RoleRef.Kind == "ClusterRole" {
				add("namespace", clusterRoles[b.RoleRef.Name])
			} else {
				add("namespace", roles[b.Namespace+"/"+b.RoleRef.Name])
			}
		}
	}
	return normalize(out)
}

func boundToWatcher(ss []rbacv1.Subject) bool {
	return slices.ContainsFunc(ss, func(s rbacv1.Subject) bool {
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == ServiceAccountName && s.Namespace == ServiceAccountNamespace
	})
}

// TestRBACManifestMatchesCode: the roles bound to the watcher's ServiceAccount grant
// exactly what Rules and attest.Rules say the code uses — nothing missing, nothing
// extra. The integration tests then prove the code really needs no more, by running
// under this ServiceAccount.
func TestRBACManifestMatchesCode(t *testing.T) {
	got := manifestGrants(t, manifestObjects(t, RBACFile))
	want := codeGrants()
	for _, g := range want {
		if !slices.Contains(got, g) {
			t.Errorf("manifest lacks %s", g)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("manifest grants %s, which the code does not use", g)
		}
	}
	if t.Failed() {
		t.Logf("manifest grants:\n  %s", strings.Join(grantStrings(got), "\n  "))
	}
}

func grantStrings(gs []grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	return out
}

// The comparison is not vacuous: a missing verb and an extra one are both caught.
func TestRBACComparisonCatchesDrift(t *testing.T) {
	objs := manifestObjects(t, RBACFile)
	for _, o := range objs {
		if cr, ok := o.(*rbacv1.ClusterRole); ok {
			cr.Rules[0].Verbs = append(slices.Clone(cr.Rules[0].Verbs[1:]), "delete")
		}
	}
	got, want := manifestGrants(t, objs), codeGrants()
	if slices.Equal(got, want) {
		t.Fatal("mutated manifest still compares equal")
	}
}
