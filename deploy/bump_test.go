package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// copyManifests copies deploy/k8s into a temp dir and returns it.
func copyManifests(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(repoPath("deploy", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b := readRepoFile(t, "deploy", "k8s", e.Name())
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// Bumping to v0.1.1 changes every Guildhall image tag and the migration Job name, and
// not one other byte.
func TestBumpChangesImageTagAndJobNameOnly(t *testing.T) {
	dir := copyManifests(t)
	before := readDir(t, dir)
	oldTag, err := CurrentTag(dir)
	if err != nil {
		t.Fatal(err)
	}
	const newTag = "v0.1.1"
	if oldTag == newTag {
		t.Fatalf("manifests already at %s", newTag)
	}
	changes, err := Bump(dir, newTag)
	if err != nil {
		t.Fatal(err)
	}
	after := readDir(t, dir)
	if len(after) != len(before) {
		t.Fatalf("bump left %d files, had %d (stray temp files?)", len(after), len(before))
	}

	oldImage, newImage := ImageRepository+":"+oldTag, ImageRepository+":"+newTag
	oldJob, newJob := MigrateJobName(oldTag), MigrateJobName(newTag)
	var images, jobs int
	for name, b := range before {
		a := after[name]
		bl, al := strings.Split(b, "\n"), strings.Split(a, "\n")
		if len(bl) != len(al) {
			t.Errorf("%s: line count changed %d -> %d", name, len(bl), len(al))
			continue
		}
		for i := range bl {
			if bl[i] == al[i] {
				continue
			}
			switch {
			case strings.Replace(bl[i], oldImage, newImage, 1) == al[i] && strings.Contains(bl[i], "image:"):
				images++
			case strings.Replace(bl[i], oldJob, newJob, 1) == al[i] && strings.HasPrefix(strings.TrimSpace(bl[i]), "name:"):
				jobs++
			default:
				t.Errorf("%s:%d: unexpected change\n- %s\n+ %s", name, i+1, bl[i], al[i])
			}
		}
	}
	wantImages := strings.Count(strings.Join(mapValues(before), "\n"), oldImage)
	if images != wantImages || images < 3 {
		t.Errorf("changed %d image lines, want all %d (migrate, worker, web, watcher)", images, wantImages)
	}
	if jobs != 1 {
		t.Errorf("changed %d Job names, want 1", jobs)
	}
	if len(changes) != images+jobs {
		t.Errorf("Bump reported %d changes, files show %d", len(changes), images+jobs)
	}

	// The result still decodes strictly, and says what it should.
	if got, err := CurrentTag(dir); err != nil || got != newTag {
		t.Errorf("CurrentTag after bump = %q, %v", got, err)
	}
	ms, err := decodeManifests("30-migrate-job.yaml", []byte(after["30-migrate-job.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	job, ok := ms[0].Obj.(*batchv1.Job)
	if !ok || job.Name != "guildhall-migrate-v0-1-1" || job.Spec.Template.Spec.Containers[0].Image != ImageRepository+":v0.1.1" {
		t.Errorf("bumped Job: %+v", ms[0].Obj)
	}

	// Running it again changes nothing.
	again, err := Bump(dir, newTag)
	if err != nil || len(again) != 0 {
		t.Errorf("second bump: %v changes, err %v", again, err)
	}
	if second := readDir(t, dir); strings.Join(mapValues(second), "") != strings.Join(mapValues(after), "") {
		t.Errorf("second bump rewrote files")
	}
}

func mapValues(m map[string]string) []string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func TestBumpRefusesBadTagsAndWritesNothing(t *testing.T) {
	dir := copyManifests(t)
	before := readDir(t, dir)
	for _, tag := range []string{"", "latest", "0.1.1", "v0.1", "v0.1.1 ", "v01.1.1", "V0.1.1", "v0.1.1/../x", "v0.1.1-" + strings.Repeat("x", 60)} {
		if _, err := Bump(dir, tag); err == nil {
			t.Errorf("Bump(%q) accepted", tag)
		}
	}
	for _, tag := range []string{"v0.1.1", "v1.0.0-rc.1", "v10.20.30"} {
		if err := ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q): %v", tag, err)
		}
	}
	if after := readDir(t, dir); strings.Join(mapValues(after), "") != strings.Join(mapValues(before), "") {
		t.Errorf("a refused bump changed files")
	}
	if got := MigrateJobName("v1.0.0-rc.1"); got != "guildhall-migrate-v1-0-0-rc-1" {
		t.Errorf("MigrateJobName = %s", got)
	}
}

// Without exactly one migration Job the bump refuses (it would leave the tag and the
// Job name out of step).
func TestBumpNeedsTheJob(t *testing.T) {
	dir := copyManifests(t)
	if err := os.Remove(filepath.Join(dir, "30-migrate-job.yaml")); err != nil {
		t.Fatal(err)
	}
	before := readDir(t, dir)
	if _, err := Bump(dir, "v0.1.1"); err == nil {
		t.Fatal("bump without a migration Job succeeded")
	}
	if after := readDir(t, dir); strings.Join(mapValues(after), "") != strings.Join(mapValues(before), "") {
		t.Errorf("a refused bump changed files")
	}
}

// Quoted image values and comments survive.
func TestBumpKeepsQuotingAndComments(t *testing.T) {
	dir := t.TempDir()
	src := `# a comment: forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0 stays
apiVersion: batch/v1
kind: Job
metadata:
  name: "guildhall-migrate-v0-1-0" # the tag
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: 'forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
data:
  note: guildhall-migrate-v0-1-0 is not a Job name here
`
	if err := os.WriteFile(filepath.Join(dir, "30-migrate-job.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Bump(dir, "v0.2.0"); err != nil {
		t.Fatal(err)
	}
	got := readDir(t, dir)["30-migrate-job.yaml"]
	want := strings.NewReplacer(
		`name: "guildhall-migrate-v0-1-0"`, `name: "guildhall-migrate-v0-2-0"`,
		`image: 'forgejo.guildhouse.dev/guildhouse/guildhall:v0.1.0'`, `image: 'forgejo.guildhouse.dev/guildhouse/guildhall:v0.2.0'`,
	).Replace(src)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
