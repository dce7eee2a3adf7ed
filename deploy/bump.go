// Package deploy holds what the deploy kit needs in Go: the image tag bump used by
// `make bump TAG=vX.Y.Z` (tools/bump), and, in its tests, the checks that parse every
// deploy file with the real parsers (buildkit's Dockerfile parser, the compose-spec
// loader, client-go strict decoding and the Pod Security admission policy).
//
// Nothing in the guildhall binary imports this package.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// ImageRepository is the image every Guildhall workload runs.
const ImageRepository = "forgejo.guildhouse.dev/guildhouse/guildhall"

// MigrateJobPrefix starts the name of the migration Job; the image tag follows.
const MigrateJobPrefix = "guildhall-migrate-"

var tagRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$`)

// ValidateTag accepts release tags of the form vMAJOR.MINOR.PATCH with an optional
// pre-release suffix (v0.1.1, v1.2.0-rc.1). "latest" and untagged names are refused.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q: want vMAJOR.MINOR.PATCH[-prerelease], e.g. v0.1.1", tag)
	}
	if len(MigrateJobName(tag)) > 63 {
		return fmt.Errorf("tag %q: migration Job name %q is longer than 63 characters", tag, MigrateJobName(tag))
	}
	return nil
}

// JobSlug turns a tag into the part of a Kubernetes name that carries it:
// v0.1.0 → v0-1-0.
func JobSlug(tag string) string {
	return strings.ToLower(strings.NewReplacer(".", "-", "+", "-", "_", "-").Replace(tag))
}

// MigrateJobName is the name of the migration Job for an image tag.
func MigrateJobName(tag string) string { return MigrateJobPrefix + JobSlug(tag) }

// Change is one value Bump rewrote.
type Change struct {
	File     string // base name of the manifest
	Line     int    // 1-based
	Old, New string
}

func (c Change) String() string { return fmt.Sprintf("%s:%d: %s -> %s", c.File, c.Line, c.Old, c.New) }

// Bump sets the Guildhall image tag and the migration Job name to tag in every
// manifest (*.yaml, *.yml, *.yaml.tmpl) directly under dir. Values are located with a
// YAML parser and replaced in place, so comments, order and layout stay as they were
// and nothing else in the files changes. It refuses to run unless it finds at least
// one Guildhall image and exactly one migration Job, and writes nothing on error.
func Bump(dir, tag string) ([]Change, error) {
	if err := ValidateTag(tag); err != nil {
		return nil, err
	}
	files, err := manifestFiles(dir)
	if err != nil {
		return nil, err
	}
	type pending struct {
		path string
		mode os.FileMode
		data []byte
	}
	var (
		changes     []Change
		writes      []pending
		images, job int
	)
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		edits, nImages, nJobs, err := findBumpEdits(raw, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		images += nImages
		job += nJobs
		if len(edits) == 0 {
			continue
		}
		sort.Slice(edits, func(i, j int) bool { return edits[i].line < edits[j].line })
		out, err := applyEdits(raw, edits)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, e := range edits {
			if e.old != e.new {
				changes = append(changes, Change{File: filepath.Base(path), Line: e.line, Old: e.old, New: e.new})
			}
		}
		if !bytes.Equal(out, raw) {
			st, err := os.Stat(path)
			if err != nil {
				return nil, err
			}
			writes = append(writes, pending{path, st.Mode().Perm(), out})
		}
	}
	if images == 0 {
		return nil, fmt.Errorf("no %s image found under %s", ImageRepository, dir)
	}
	if job != 1 {
		return nil, fmt.Errorf("want exactly one Job named %s* under %s, found %d", MigrateJobPrefix, dir, job)
	}
	for _, w := range writes {
		if err := writeFileAtomic(w.path, w.data, w.mode); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// CurrentTag reports the Guildhall image tag the manifests under dir use, and fails
// when they disagree.
func CurrentTag(dir string) (string, error) {
	files, err := manifestFiles(dir)
	if err != nil {
		return "", err
	}
	tags := map[string][]string{}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		docs, err := yamlDocs(raw)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		for _, d := range docs {
			walkMappings(d, func(key, val *yaml.Node) {
				if key.Value == "image" && val.Kind == yaml.ScalarNode {
					if t, ok := strings.CutPrefix(val.Value, ImageRepository+":"); ok {
						tags[t] = append(tags[t], filepath.Base(path))
					}
				}
			})
		}
	}
	switch len(tags) {
	case 0:
		return "", fmt.Errorf("no %s image found under %s", ImageRepository, dir)
	case 1:
		for t := range tags {
			return t, nil
		}
	}
	return "", fmt.Errorf("manifests under %s disagree on the image tag: %v", dir, tags)
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml.tmpl")) {
			files = append(files, filepath.Join(dir, n))
		}
	}
	sort.Strings(files)
	return files, nil
}

type edit struct {
	line, col int // 1-based position of the scalar node
	old, new  string
}

func findBumpEdits(raw []byte, tag string) (edits []edit, images, jobs int, err error) {
	docs, err := yamlDocs(raw)
	if err != nil {
		return nil, 0, 0, err
	}
	newImage := ImageRepository + ":" + tag
	for _, d := range docs {
		walkMappings(d, func(key, val *yaml.Node) {
			if key.Value == "image" && val.Kind == yaml.ScalarNode && strings.HasPrefix(val.Value, ImageRepository+":") {
				images++
				edits = append(edits, edit{val.Line, val.Column, val.Value, newImage})
			}
		})
		if d.Kind != yaml.MappingNode || scalarAt(d, "kind") != "Job" {
			continue
		}
		meta := valueOf(d, "metadata")
		if meta == nil {
			continue
		}
		if name := valueOf(meta, "name"); name != nil && name.Kind == yaml.ScalarNode && strings.HasPrefix(name.Value, MigrateJobPrefix) {
			jobs++
			edits = append(edits, edit{name.Line, name.Column, name.Value, MigrateJobName(tag)})
		}
	}
	return edits, images, jobs, nil
}

// applyEdits replaces each edit's old value by its new one on its line, at or after
// its column (a quoted scalar's column points at the quote).
func applyEdits(raw []byte, edits []edit) ([]byte, error) {
	lines := strings.SplitAfter(string(raw), "\n")
	for _, e := range edits {
		if e.line < 1 || e.line > len(lines) {
			return nil, fmt.Errorf("line %d out of range", e.line)
		}
		l := lines[e.line-1]
		start := min(max(e.col-1, 0), len(l))
		i := strings.Index(l[start:], e.old)
		if i < 0 {
			return nil, fmt.Errorf("line %d: %q not found where the parser put it", e.line, e.old)
		}
		i += start
		lines[e.line-1] = l[:i] + e.new + l[i+len(e.old):]
	}
	return []byte(strings.Join(lines, "")), nil
}

func yamlDocs(raw []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			docs = append(docs, n.Content[0])
		}
	}
}

// walkMappings calls fn for every key/value pair of every mapping under n.
func walkMappings(n *yaml.Node, fn func(key, val *yaml.Node)) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			fn(n.Content[i], n.Content[i+1])
		}
	}
	for _, c := range n.Content {
		walkMappings(c, fn)
	}
}

func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarAt(m *yaml.Node, key string) string {
	if v := valueOf(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".bump-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
