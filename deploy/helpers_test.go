package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

// repoRoot is the module root: tests run in deploy/. DEPLOY_TEST_ROOT points the
// tests at another checkout (used to try manifests out in a scratch copy).
var repoRoot = func() string {
	if r := os.Getenv("DEPLOY_TEST_ROOT"); r != "" {
		return r
	}
	return ".."
}()

func repoPath(elem ...string) string { return filepath.Join(append([]string{repoRoot}, elem...)...) }

func readRepoFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(elem...))
	if err != nil {
		t.Fatalf("read %s: %v", filepath.Join(elem...), err)
	}
	return b
}

// strictDecoder decodes every built-in kind and CRDs, failing on unknown and
// duplicate fields.
var strictDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// manifest is one decoded document of a manifest file.
type manifest struct {
	File string // path relative to the repo root
	Doc  int    // 0-based index of the document in the file
	GVK  schema.GroupVersionKind
	Obj  runtime.Object
}

// decodeManifests strict-decodes every YAML document in data.
func decodeManifests(name string, data []byte) ([]manifest, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var probe any
		if err := sigsyaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if probe == nil { // only comments or blank
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, &docError{name, i, err}
		}
		out = append(out, manifest{File: name, Doc: i, GVK: *gvk, Obj: obj})
	}
}

type docError struct {
	file string
	doc  int
	err  error
}

func (e *docError) Error() string {
	return fmt.Sprintf("%s document %d: %v", e.file, e.doc, e.err)
}

// manifestPaths lists deploy/k8s/*.yaml and *.yaml.tmpl and deploy/crds/*.yaml,
// relative to the repo root, sorted.
func manifestPaths(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, pat := range []string{"deploy/k8s/*.yaml", "deploy/k8s/*.yml", "deploy/k8s/*.yaml.tmpl", "deploy/crds/*.yaml", "deploy/crds/*.yml"} {
		m, err := filepath.Glob(repoPath(pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(repoRoot, p)
			paths = append(paths, filepath.ToSlash(rel))
		}
	}
	sort.Strings(paths)
	return paths
}

// loadAll decodes every manifest; the test fails on the first error.
func loadAll(t *testing.T) []manifest {
	t.Helper()
	var all []manifest
	for _, p := range manifestPaths(t) {
		ms, err := decodeManifests(p, readRepoFile(t, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(ms) == 0 {
			t.Fatalf("%s: no Kubernetes object in file", p)
		}
		all = append(all, ms...)
	}
	return all
}

func isTemplate(path string) bool { return strings.HasSuffix(path, ".tmpl") }

// exists reports whether a repo-relative path exists.
func exists(elem ...string) bool {
	_, err := os.Stat(repoPath(elem...))
	return err == nil
}

// crdSpecSchema is the schema of spec in the CRD of kind (its first version).
func crdSpecSchema(t *testing.T, kind string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	for _, m := range loadAll(t) {
		if c, ok := m.Obj.(*apiextensionsv1.CustomResourceDefinition); ok && c.Spec.Names.Kind == kind {
			return c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		}
	}
	t.Fatalf("no CRD for %s", kind)
	return apiextensionsv1.JSONSchemaProps{}
}

// schemaAt walks s along path: property names, and "[]" for a list's items.
func schemaAt(t *testing.T, s apiextensionsv1.JSONSchemaProps, path ...string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	for _, k := range path {
		if k == "[]" {
			if s.Items == nil || s.Items.Schema == nil {
				t.Fatalf("the schema at %v has no items", path)
			}
			s = *s.Items.Schema
			continue
		}
		next, ok := s.Properties[k]
		if !ok {
			t.Fatalf("the schema has no %v", path)
		}
		s = next
	}
	return s
}

// enumOf is the enum of a string schema.
func enumOf(t *testing.T, s apiextensionsv1.JSONSchemaProps) []string {
	t.Helper()
	var out []string
	for _, e := range s.Enum {
		var v string
		if err := json.Unmarshal(e.Raw, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func ptrOr(v *int64) int64 {
	if v == nil {
		return -1
	}
	return *v
}
