package deploy

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

// parsedDockerfile is the Dockerfile through buildkit's own parser and instruction
// decoder, as `docker build` reads it, with every lint warning collected.
type parsedDockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	warnings []string
}

func parseDockerfile(src []byte) (*parsedDockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	p := &parsedDockerfile{}
	for _, w := range res.Warnings {
		p.warnings = append(p.warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		p.warnings = append(p.warnings, fmt.Sprintf("%s: %s", rule, msg))
	}})
	p.stages, p.metaArgs, err = instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func loadDockerfile(t *testing.T) *parsedDockerfile {
	t.Helper()
	p, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return p
}

func commandsOf[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// index of the first command in s for which match is true, or -1.
func indexOf(s instructions.Stage, match func(instructions.Command) bool) int {
	return slices.IndexFunc(s.Commands, match)
}

func runText(c instructions.Command) string {
	if r, ok := c.(*instructions.RunCommand); ok {
		return strings.Join(r.CmdLine, " ")
	}
	return ""
}

func copies(c instructions.Command, srcs ...string) bool {
	cp, ok := c.(*instructions.CopyCommand)
	return ok && cp.From == "" && slices.Equal(cp.SourcePaths, srcs)
}

func goVersion(t *testing.T) string {
	t.Helper()
	f, err := modfile.ParseLax("go.mod", readRepoFile(t, "go.mod"), nil)
	if err != nil || f.Go == nil {
		t.Fatalf("go.mod: %v", err)
	}
	return f.Go.Version
}

func TestDockerfileParsesWithoutLintWarnings(t *testing.T) {
	p := loadDockerfile(t)
	if len(p.warnings) > 0 {
		t.Errorf("buildkit warnings:\n  %s", strings.Join(p.warnings, "\n  "))
	}
	if len(p.stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(p.stages))
	}
}

// Every base image is pinned: the builder to the exact Go release of go.mod, the rest
// to a version, a digest, an earlier stage or scratch.
func TestDockerfileBaseImages(t *testing.T) {
	p := loadDockerfile(t)
	build := p.stages[0]
	if build.Name != "build" {
		t.Errorf("first stage %q, want build", build.Name)
	}
	want := "golang:" + goVersion(t)
	if build.BaseName != want && !strings.HasPrefix(build.BaseName, want+"-") && !strings.HasPrefix(build.BaseName, want+"@") {
		t.Errorf("builder %s, want %s (the go directive of go.mod)", build.BaseName, want)
	}
	var names []string
	for _, s := range p.stages {
		switch {
		case strings.Contains(s.BaseName, "$"):
			t.Errorf("stage %s: base %s depends on a build arg; pin it in the file", s.Name, s.BaseName)
		case s.BaseName == "scratch", slices.Contains(names, s.BaseName):
		default:
			if err := pinned(s.BaseName); err != nil {
				t.Errorf("stage %s: %v", s.Name, err)
			}
		}
		if strings.HasSuffix(s.BaseName, ":latest") {
			t.Errorf("stage %s uses :latest", s.Name)
		}
		names = append(names, s.Name)
	}
}

// Dependencies are downloaded in their own layer, keyed on go.mod and go.sum only,
// before the source is copied; the binary is built static from ./cmd/guildhall.
func TestDockerfileBuildStage(t *testing.T) {
	p := loadDockerfile(t)
	build := p.stages[0]
	copyMod := indexOf(build, func(c instructions.Command) bool { return copies(c, "go.mod", "go.sum") })
	download := indexOf(build, func(c instructions.Command) bool { return strings.Contains(runText(c), "go mod download") })
	copySrc := indexOf(build, func(c instructions.Command) bool { return copies(c, ".") })
	goBuild := indexOf(build, func(c instructions.Command) bool { return strings.Contains(runText(c), "go build") })
	if copyMod < 0 || download < 0 || copySrc < 0 || goBuild < 0 {
		t.Fatalf("build stage needs COPY go.mod go.sum, RUN go mod download, COPY . ., RUN go build (got %d %d %d %d)", copyMod, download, copySrc, goBuild)
	}
	if !(copyMod < download && download < copySrc && copySrc < goBuild) {
		t.Errorf("order must be COPY go.mod go.sum → go mod download → COPY . . → go build, got %d %d %d %d", copyMod, download, copySrc, goBuild)
	}
	for i, c := range build.Commands[:download] {
		if cp, ok := c.(*instructions.CopyCommand); ok && i != copyMod {
			t.Errorf("COPY %v before go mod download would invalidate the dependency layer", cp.SourcePaths)
		}
	}
	env := map[string]string{}
	for _, e := range commandsOf[*instructions.EnvCommand](build) {
		for _, kv := range e.Env {
			env[kv.Key] = kv.Value
		}
	}
	buildCmd := runText(build.Commands[goBuild])
	if env["CGO_ENABLED"] != "0" && !strings.Contains(buildCmd, "CGO_ENABLED=0") {
		t.Errorf("CGO_ENABLED=0 not set: the binary must be static for a scratch image")
	}
	if !strings.Contains(buildCmd, "./cmd/guildhall") {
		t.Errorf("go build does not build ./cmd/guildhall: %s", buildCmd)
	}
	for _, c := range build.Commands {
		if txt := runText(c); strings.Contains(txt, "templ generate") {
			t.Errorf("templ output is committed; the image must not regenerate it: %s", txt)
		}
	}
}

// The runtime stage: the binary from the build stage, run as uid 1000, health-checked
// by `guildhall healthcheck`, labelled with source and version.
func TestDockerfileRuntimeStage(t *testing.T) {
	p := loadDockerfile(t)
	final := p.stages[len(p.stages)-1]

	users := commandsOf[*instructions.UserCommand](final)
	if len(users) == 0 {
		t.Fatal("final stage has no USER: it would run as root")
	}
	if u := users[len(users)-1].User; u != "1000" && u != "1000:1000" {
		t.Errorf("final USER %q, want 1000 (or 1000:1000)", u)
	}

	eps := commandsOf[*instructions.EntrypointCommand](final)
	if len(eps) != 1 || eps[0].PrependShell || len(eps[0].CmdLine) != 1 {
		t.Fatalf("want one exec-form ENTRYPOINT [\"/path/to/guildhall\"], got %+v", eps)
	}
	binary := eps[0].CmdLine[0]
	if filepath.Base(binary) != "guildhall" || !filepath.IsAbs(binary) {
		t.Errorf("ENTRYPOINT %s, want an absolute path to guildhall", binary)
	}
	if !slices.ContainsFunc(commandsOf[*instructions.CopyCommand](final), func(c *instructions.CopyCommand) bool {
		return c.From == p.stages[0].Name && c.DestPath == binary
	}) {
		t.Errorf("final stage does not COPY --from=%s the binary to %s", p.stages[0].Name, binary)
	}

	hcs := commandsOf[*instructions.HealthCheckCommand](final)
	if len(hcs) != 1 {
		t.Fatalf("final stage has %d HEALTHCHECKs, want 1", len(hcs))
	}
	hc := hcs[0].Health
	if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != binary || hc.Test[2] != "healthcheck" {
		t.Errorf("HEALTHCHECK %v, want exec form [CMD %s healthcheck ...]", hc.Test, binary)
	}
	if hc.Interval == 0 || hc.Timeout == 0 || hc.Retries == 0 {
		t.Errorf("HEALTHCHECK needs interval, timeout and retries: %+v", hc)
	}
	for _, c := range final.Commands {
		if txt := runText(c); strings.Contains(txt, "curl") || strings.Contains(txt, "wget") {
			t.Errorf("final stage installs or runs curl/wget: %s", txt)
		}
	}

	labels := map[string]string{}
	for _, l := range commandsOf[*instructions.LabelCommand](final) {
		for _, kv := range l.Labels {
			labels[kv.Key] = strings.Trim(kv.Value, `"'`) // the parser keeps the quotes
		}
	}
	if src := labels["org.opencontainers.image.source"]; !strings.HasPrefix(src, "https://forgejo.guildhouse.dev/guildhouse/guildhall") {
		t.Errorf("label org.opencontainers.image.source = %q", src)
	}
	if v := labels["org.opencontainers.image.version"]; v != "${VERSION}" {
		t.Errorf("label org.opencontainers.image.version = %q, want ${VERSION} (the build arg)", v)
	}
	if !slices.ContainsFunc(commandsOf[*instructions.ArgCommand](final), func(a *instructions.ArgCommand) bool {
		return slices.ContainsFunc(a.Args, func(kv instructions.KeyValuePairOptional) bool { return kv.Key == "VERSION" })
	}) {
		t.Errorf("final stage must declare ARG VERSION for the version label")
	}

	var exposed []string
	for _, e := range commandsOf[*instructions.ExposeCommand](final) {
		exposed = append(exposed, e.Ports...)
	}
	for _, port := range []string{"4000", "9090"} {
		if !slices.Contains(exposed, port) {
			t.Errorf("EXPOSE lacks %s (have %v)", port, exposed)
		}
	}
}

// The checks above fail on a broken Dockerfile: each mutation must be caught.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	good := string(readRepoFile(t, "Dockerfile"))
	for name, bad := range map[string]string{
		"root user":          strings.Replace(good, "USER 1000:1000", "USER root", 1),
		"latest builder":     strings.Replace(good, "FROM golang:"+goVersion(t)+" AS build", "FROM golang:latest AS build", 1),
		"no healthcheck":     strings.Replace(good, "HEALTHCHECK", "# HEALTHCHECK", 1),
		"source before deps": strings.Replace(good, "COPY go.mod go.sum ./", "COPY . .", 1),
	} {
		if bad == good {
			t.Fatalf("%s: mutation did not apply", name)
		}
		p, err := parseDockerfile([]byte(bad))
		if err != nil {
			continue // refused by the parser: caught
		}
		if dockerfileProblems(p, goVersion(t)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// dockerfileProblems re-runs the essential checks on a parsed Dockerfile and counts
// the problems (used by the mutation test).
func dockerfileProblems(p *parsedDockerfile, goVer string) int {
	n := 0
	final := p.stages[len(p.stages)-1]
	if users := commandsOf[*instructions.UserCommand](final); len(users) == 0 || (users[len(users)-1].User != "1000" && users[len(users)-1].User != "1000:1000") {
		n++
	}
	if !strings.HasPrefix(p.stages[0].BaseName, "golang:"+goVer) {
		n++
	}
	if len(commandsOf[*instructions.HealthCheckCommand](final)) != 1 {
		n++
	}
	build := p.stages[0]
	download := indexOf(build, func(c instructions.Command) bool { return strings.Contains(runText(c), "go mod download") })
	copyMod := indexOf(build, func(c instructions.Command) bool { return copies(c, "go.mod", "go.sum") })
	if copyMod < 0 || download < 0 || copyMod > download {
		n++
	}
	return n
}

// .dockerignore keeps build output, data, VCS and the deploy kit out of the context
// and keeps in every file the binary is compiled or embedded from.
func TestDockerignore(t *testing.T) {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(readRepoFile(t, ".dockerignore")))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(path string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(path))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, p := range []string{".git/HEAD", "bin/guildhall", ".data/guildhall.db", "data/pg/PG_VERSION", "deploy/k8s/50-web.yaml", "deploy/crds/x.yaml", "tmp/x", "test-output/report.txt", "guildhall.test", "tools/k8s-testbin/go.mod", ".ci/run", ".forgejo/workflows/ci.yml"} {
		if !excluded(p) {
			t.Errorf("%s is not excluded", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/guildhall/main.go", "cmd/guildhall/healthcheck.go", "migrations/migrations.go"} {
		if excluded(p) {
			t.Errorf("%s is excluded but the build needs it", p)
		}
	}

	// Every Go and embedded file of every package the binary is built from.
	if !exists("cmd", "guildhall") {
		t.Fatal("cmd/guildhall is missing")
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-f", "{{if not .Standard}}{{.Dir}}|{{join .GoFiles \",\"}}|{{join .EmbedFiles \",\"}}{{end}}", "./cmd/guildhall")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			continue
		}
		rel, err := filepath.Rel(root, parts[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency outside the repo
		}
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f == "" {
					continue
				}
				checked++
				if p := filepath.Join(rel, f); excluded(p) {
					t.Errorf("%s is excluded by .dockerignore but ./cmd/guildhall needs it", p)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list reported no files of ./cmd/guildhall")
	}
	t.Logf("%d files of ./cmd/guildhall and its packages are in the build context", checked)
}
