package deploy

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// Workflow is the subset of the Forgejo Actions workflow syntax this repo uses;
// decoding is strict, so a misspelt key fails the test.
type workflow struct {
	Name string `yaml:"name"`
	On   struct {
		Push struct {
			Branches []string `yaml:"branches"`
			Tags     []string `yaml:"tags"`
		} `yaml:"push"`
		PullRequest *struct{} `yaml:"pull_request"`
	} `yaml:"on"`
	Jobs map[string]workflowJob `yaml:"jobs"`
}

type workflowJob struct {
	Name      string `yaml:"name"`
	RunsOn    string `yaml:"runs-on"`
	Needs     any    `yaml:"needs"`
	If        string `yaml:"if"`
	Container struct {
		Image   string `yaml:"image"`
		Options string `yaml:"options"`
	} `yaml:"container"`
	Services map[string]struct {
		Image   string            `yaml:"image"`
		Options string            `yaml:"options"`
		Env     map[string]string `yaml:"env"`
	} `yaml:"services"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Env            map[string]string `yaml:"env"`
	Steps          []struct {
		Name             string            `yaml:"name"`
		Uses             string            `yaml:"uses"`
		With             map[string]string `yaml:"with"`
		Run              string            `yaml:"run"`
		WorkingDirectory string            `yaml:"working-directory"`
		Env              map[string]string `yaml:"env"`
	} `yaml:"steps"`
}

func (j workflowJob) runs() string {
	var b strings.Builder
	for _, s := range j.Steps {
		b.WriteString(s.Run)
		b.WriteString("\n")
	}
	return b.String()
}

func loadWorkflow(t *testing.T) workflow {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readRepoFile(t, ".forgejo", "workflows", "ci.yml")))
	dec.KnownFields(true)
	var w workflow
	if err := dec.Decode(&w); err != nil {
		t.Fatalf(".forgejo/workflows/ci.yml: %v", err)
	}
	return w
}

func TestCIWorkflowRunsMakeTestOnPush(t *testing.T) {
	w := loadWorkflow(t)
	if !slices.Contains(w.On.Push.Branches, "**") {
		t.Errorf("push branches %v: want every branch (\"**\")", w.On.Push.Branches)
	}
	if !slices.Contains(w.On.Push.Tags, "v*") {
		t.Errorf("push tags %v: want v*", w.On.Push.Tags)
	}
	test, ok := w.Jobs["test"]
	if !ok {
		t.Fatal("no job named test")
	}
	if test.If != "" {
		t.Errorf("the test job must run on every push, has if: %s", test.If)
	}
	runs := test.runs()
	switch {
	case strings.Contains(runs, "make test"):
	case strings.Contains(runs, ".ci/run"):
		// .ci/run prepares the machine (Postgres, Chromium, tools) and runs make test.
		if ci := string(readRepoFile(t, ".ci", "run")); !strings.Contains(ci, "make test") {
			t.Errorf(".ci/run does not run make test")
		}
	default:
		t.Errorf("test job runs neither make test nor .ci/run:\n%s", runs)
	}
	if want := "golang:" + goVersion(t); test.Container.Image != want {
		t.Errorf("test job image %s, want %s (go.mod and the Dockerfile builder)", test.Container.Image, want)
	}
	if test.TimeoutMinutes == 0 || test.TimeoutMinutes > 90 {
		t.Errorf("test job timeout-minutes %d: set one, at most 90", test.TimeoutMinutes)
	}
}

func TestCIWorkflowBuildsImageOnTags(t *testing.T) {
	w := loadWorkflow(t)
	var img *workflowJob
	for name, j := range w.Jobs {
		if strings.Contains(j.runs(), "docker build") {
			if img != nil {
				t.Fatalf("two jobs build the image")
			}
			j := j
			img = &j
			if name == "test" {
				t.Errorf("the test job must not build the image")
			}
		}
	}
	if img == nil {
		t.Fatal("no job runs docker build")
	}
	if !strings.Contains(img.If, "startsWith(github.ref, 'refs/tags/v')") {
		t.Errorf("image job if: %q, want it to run on v* tags only", img.If)
	}
	if img.Needs != "test" && !slices.Contains(toStrings(img.Needs), "test") {
		t.Errorf("image job needs %v, want test", img.Needs)
	}
	runs := img.runs()
	if img.Env["IMAGE"] != ImageRepository || img.Env["TAG"] != "${{ github.ref_name }}" {
		t.Errorf("image job env IMAGE=%q TAG=%q, want %s and the tag name", img.Env["IMAGE"], img.Env["TAG"], ImageRepository)
	}
	for _, want := range []string{`-t "$IMAGE:$TAG"`, `docker push "$IMAGE:$TAG"`, `--build-arg VERSION="$TAG"`, "docker login forgejo.guildhouse.dev"} {
		if !strings.Contains(runs, want) {
			t.Errorf("image job does not run %s", want)
		}
	}
	if strings.Contains(runs, "latest") {
		t.Errorf("image job mentions latest: tags are immutable releases")
	}
}

// Every container image and action is pinned.
func TestCIWorkflowPins(t *testing.T) {
	w := loadWorkflow(t)
	usesRE := regexp.MustCompile(`^[a-z0-9-]+/[a-z0-9-]+@v[0-9]+(\.[0-9]+)*$`)
	for name, j := range w.Jobs {
		if j.Container.Image != "" {
			if err := pinned(j.Container.Image); err != nil {
				t.Errorf("job %s container: %v", name, err)
			}
		}
		for sname, s := range j.Services {
			if err := pinned(s.Image); err != nil {
				t.Errorf("job %s service %s: %v", name, sname, err)
			}
		}
		for _, s := range j.Steps {
			if s.Uses != "" && !usesRE.MatchString(s.Uses) {
				t.Errorf("job %s: action %q not pinned to a version", name, s.Uses)
			}
		}
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
