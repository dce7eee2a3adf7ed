package deploy

import (
	"bufio"
	"bytes"
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
