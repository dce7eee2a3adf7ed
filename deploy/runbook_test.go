package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
)

const runbookFile = "DEPLOY-RUNBOOK.md"

// runbookSection is a "## " section of the runbook.
type runbookSection struct {
	Title    string
	Body     string
	Commands []string // the section's shell commands, continuation lines joined
}

func loadRunbook(t *testing.T) []runbookSection {
	t.Helper()
	var (
		out     []runbookSection
		cur     *runbookSection
		inFence bool
		pending string
	)
	for _, line := range strings.Split(string(readRepoFile(t, runbookFile)), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if !inFence && strings.HasPrefix(line, "## ") {
			out = append(out, runbookSection{Title: strings.TrimPrefix(line, "## ")})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		cur.Body += line + "\n"
		if !inFence {
			continue
		}
		code := line
		if i := strings.Index(code, " # "); i >= 0 && !strings.Contains(code[:i], "'") && !strings.Contains(code[:i], `"`) {
			code = code[:i] // trailing comment
		}
		code = strings.TrimRight(code, " ")
		if strings.HasSuffix(code, `\`) {
			pending += strings.TrimSuffix(code, `\`) + " "
			continue
		}
		if cmd := strings.TrimSpace(pending + code); cmd != "" && !strings.HasPrefix(cmd, "#") {
			cur.Commands = append(cur.Commands, cmd)
		}
		pending = ""
	}
	if inFence {
		t.Fatalf("%s: unclosed code fence", runbookFile)
	}
	return out
}

func allCommands(secs []runbookSection) []string {
	var out []string
	for _, s := range secs {
		out = append(out, s.Commands...)
	}
	return out
}

func TestRunbookSections(t *testing.T) {
	secs := loadRunbook(t)
	var titles []string
	for _, s := range secs {
		titles = append(titles, s.Title)
	}
	phases := []string{"Build and push", "Cluster prep", "Database", "Migrate", "Rollout", "DNS and smoke"}
	last := -1
	for i, want := range phases {
		idx := slices.IndexFunc(secs, func(s runbookSection) bool {
			return strings.HasPrefix(s.Title, fmt.Sprintf("Phase %d — %s", i+1, want))
		})
		if idx < 0 {
			t.Errorf("no section \"Phase %d — %s…\" (have %q)", i+1, want, titles)
			continue
		}
		if idx < last {
			t.Errorf("phase %d is out of order", i+1)
		}
		last = idx
		if !strings.Contains(secs[idx].Body, "Success looks like") {
			t.Errorf("phase %d does not say what success looks like", i+1)
		}
		if len(secs[idx].Commands) == 0 {
			t.Errorf("phase %d has no commands", i+1)
		}
	}
	for _, want := range []string{"Releasing a new tag", "Rollback", "Teardown", "Manual ceremony intervention", "Limitations"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no section %q", want)
		}
	}
}

// Every file the runbook names exists, every manifest kubectl applies is applied in
// some phase, and every Deployment it names is one the manifests define.
func TestRunbookFilesAndNames(t *testing.T) {
	secs := loadRunbook(t)
	text := string(readRepoFile(t, runbookFile))
	for _, f := range regexp.MustCompile(`deploy/(?:k8s|crds|examples|temporal)/[A-Za-z0-9._-]+\.ya?ml(?:\.tmpl)?`).FindAllString(text, -1) {
		if !exists(f) {
			if f == watcherFile || f == watcherRBACFile {
				t.Logf("%s is named but not written yet (the watcher's)", f)
				continue
			}
			t.Errorf("%s names %s, which does not exist", runbookFile, f)
		}
	}
	applied := strings.Join(allCommands(secs), "\n")
	var phaseCmds []string
	for _, s := range secs {
		if strings.HasPrefix(s.Title, "Phase ") {
			phaseCmds = append(phaseCmds, s.Commands...)
		}
	}
	inPhases := strings.Join(phaseCmds, "\n")
	for _, p := range manifestPaths(t) {
		if strings.HasPrefix(p, "deploy/k8s/") && !isTemplate(p) && !regexp.MustCompile(`kubectl apply( -f \S+)* -f `+regexp.QuoteMeta(p)+`\b`).MatchString(inPhases) {
			t.Errorf("no phase of the runbook applies %s", p)
		}
		if isTemplate(p) && !strings.Contains(text, p) {
			t.Errorf("the runbook does not point to the template %s", p)
		}
	}

	all := loadAll(t)
	deployments := map[string]bool{}
	for _, m := range all {
		if d, ok := m.Obj.(*appsv1.Deployment); ok {
			deployments[d.Name] = true
		}
	}
	for _, m := range regexp.MustCompile(`deploy/(guildhall-[a-z-]+)`).FindAllStringSubmatch(applied, -1) {
		if !deployments[m[1]] {
			if m[1] == "guildhall-watcher" && !exists(watcherFile) {
				continue
			}
			t.Errorf("runbook names deploy/%s, which the manifests do not define", m[1])
		}
	}

	// The Secrets the runbook creates are the ones the templates document, with the
	// same keys.
	secrets := map[string][]string{}
	for _, m := range all {
		if s, ok := m.Obj.(*corev1.Secret); ok {
			for k := range s.StringData {
				secrets[s.Name] = append(secrets[s.Name], k)
			}
		}
	}
	for name, keys := range secrets {
		i := slices.IndexFunc(allCommands(secs), func(c string) bool { return strings.Contains(c, "create secret") && strings.Contains(c, " "+name+" ") })
		if i < 0 {
			t.Errorf("no runbook command creates Secret %s", name)
			continue
		}
		cmd := allCommands(secs)[i]
		for _, k := range keys {
			if name == registrySecret {
				break // docker-registry secrets are built by kubectl from the flags
			}
			if !strings.Contains(cmd, "--from-literal="+k+"=") {
				t.Errorf("the command creating %s lacks key %s", name, k)
			}
		}
	}

	// The Job name derivation in the runbook gives the manifest's Job name.
	tag, err := CurrentTag(repoPath("deploy", "k8s"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `export JOB="guildhall-migrate-$(echo "$TAG" | tr . -)"`) {
		t.Errorf("the runbook no longer derives JOB from TAG")
	}
	if got := "guildhall-migrate-" + strings.ReplaceAll(tag, ".", "-"); got != MigrateJobName(tag) {
		t.Errorf("`tr . -` gives %s, the manifests use %s", got, MigrateJobName(tag))
	}
	// The schema rollback edits the Job manifest with sed: its patterns must match.
	job := string(readRepoFile(t, "deploy/k8s/30-migrate-job.yaml"))
	for _, line := range []string{`args: ["migrate", "up"]`, "name: " + MigrateJobName(tag)} {
		if !strings.Contains(job, line) {
			t.Errorf("30-migrate-job.yaml lacks %q, which the runbook's commands rely on", line)
		}
	}
	if !strings.Contains(applied, `args: ["migrate", "down", "1"]`) || !strings.Contains(text, "guildhall migrate status") {
		t.Errorf("the schema rollback must run guildhall migrate down")
	}
}

// Every temporal and tctl command is well-formed against the workflow contract: the
// right flag spelling for each CLI, a ceremony workflow id, message names the
// workflow handles, and JSON payloads that decode strictly into the contract types.
func TestRunbookOperatorCommands(t *testing.T) {
	secs := loadRunbook(t)
	var intervention []string
	for _, s := range secs {
		if strings.HasPrefix(s.Title, "Manual ceremony intervention") {
			intervention = s.Commands
		}
	}
	cfg := findObj[*corev1.ConfigMap](t, loadAll(t), "deploy/k8s/03-config.yaml")
	temporalNS := cfg.Data["TEMPORAL_NAMESPACE"]

	seen := map[string]bool{}
	for _, c := range allCommands(secs) {
		if !strings.HasPrefix(c, "temporal workflow ") && !strings.HasPrefix(c, "tctl ") && !strings.HasPrefix(c, "temporal task-queue ") {
			continue
		}
		args, err := testenv.ShellWords(c)
		if err != nil {
			t.Errorf("%q: %v", c, err)
			continue
		}
		cli := args[0]
		var sub string
		flags := map[string]string{}
		for i := 1; i < len(args); i++ {
			a := args[i]
			if strings.HasPrefix(a, "--") {
				if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
					flags[a] = args[i+1]
					i++
				} else {
					flags[a] = ""
				}
				continue
			}
			if a != "workflow" && sub == "" {
				sub = a
				if sub == "update" && i+1 < len(args) {
					sub += " " + args[i+1]
					i++
				}
			}
		}
		if strings.HasPrefix(c, "temporal task-queue") {
			// guildhall-cluster: the watcher's attestation activities (watcher/attest).
			if q := flags["--task-queue"]; q != contract.TaskQueue && q != "guildhall-cluster" {
				t.Errorf("%q: task queue %q, want %q or guildhall-cluster", c, q, contract.TaskQueue)
			}
			continue
		}
		seen[cli+" "+sub] = true
		if ns := flags["--namespace"]; ns != temporalNS && ns != "$TEMPORAL_NS" {
			t.Errorf("%q: namespace %q, want %q (TEMPORAL_NAMESPACE)", c, ns, temporalNS)
		}
		idFlag, nameFlag := "--workflow-id", "--name"
		if cli == "tctl" {
			idFlag = "--workflow_id"
			for f := range flags {
				if strings.Contains(strings.TrimPrefix(f, "--"), "-") {
					t.Errorf("%q: tctl spells flags with underscores, not %s", c, f)
				}
			}
		} else {
			for f := range flags {
				if strings.Contains(f, "_") {
					t.Errorf("%q: the temporal CLI spells flags with hyphens, not %s", c, f)
				}
			}
		}
		if sub == "list" {
			if q := flags["--query"]; !regexp.MustCompile(`^(CeremonyStatus|PendingWitnesses|ExecutionStatus|CeremonyKind|ArtifactDigest|CeremonyAttention) = '[^']+'$`).MatchString(q) {
				t.Errorf("%q: list query %q", c, q)
			}
			continue
		}
		wid := flags[idFlag]
		id, ok := contract.CeremonyIDFromWorkflowID(wid)
		if !ok || !regexp.MustCompile(`^[a-z0-9-]+/[a-z0-9.-]+$`).MatchString(id) || contract.WorkflowID(id) != wid {
			t.Errorf("%q: workflow id %q is not ceremony/<namespace>/<name>", c, wid)
		}
		switch sub {
		case "signal":
			checkPayload(t, c, flags[nameFlag], flags["--input"], false)
		case "update execute":
			checkPayload(t, c, flags[nameFlag], flags["--input"], true)
		case "query":
			q := flags["--name"]
			if cli == "tctl" {
				q = flags["--query_type"]
			}
			if q != contract.QueryStatus {
				t.Errorf("%q: query %q, want %q", c, q, contract.QueryStatus)
			}
		case "terminate", "reset":
			if flags["--reason"] == "" {
				t.Errorf("%q: give a --reason", c)
			}
			if sub == "reset" && flags["--type"] == "" && flags["--reset_type"] == "" {
				t.Errorf("%q: reset needs a reset type", c)
			}
		case "describe", "show", "cancel":
		default:
			t.Errorf("%q: unexpected subcommand %q", c, sub)
		}
	}
	for _, want := range []string{
		"temporal signal", "temporal update execute", "temporal query", "temporal cancel", "temporal terminate", "temporal reset", "temporal show", "temporal describe", "temporal list",
		"tctl signal", "tctl query", "tctl cancel", "tctl terminate", "tctl reset", "tctl show", "tctl describe", "tctl list",
	} {
		if !seen[want] {
			t.Errorf("the runbook has no %s command", strings.Replace(want, " ", " workflow ", 1))
		}
	}
	if len(intervention) == 0 {
		t.Errorf("the manual intervention section has no commands")
	}

	// Phase 2 installs Temporal with the checked Helm values and registers the
	// search attributes with `guildhall temporal setup` (the contract's, with
	// the code the services check them with), before the rollout.
	var prep, rollout []string
	for _, s := range secs {
		switch {
		case strings.HasPrefix(s.Title, "Phase 2"):
			prep = s.Commands
		case strings.HasPrefix(s.Title, "Phase 5"):
			rollout = s.Commands
		}
	}
	if !slices.ContainsFunc(prep, func(c string) bool {
		return strings.HasPrefix(c, "helm install temporal ") && strings.Contains(c, "--values "+helmValuesFile)
	}) {
		t.Errorf("phase 2 does not install Temporal with --values %s", helmValuesFile)
	}
	if !slices.ContainsFunc(prep, func(c string) bool {
		return strings.Contains(c, `"$IMAGE:$TAG" temporal setup`) && strings.Contains(c, `TEMPORAL_NAMESPACE="$TEMPORAL_NS"`)
	}) {
		t.Errorf("phase 2 does not run guildhall temporal setup in $TEMPORAL_NS with the release image")
	}
	for _, c := range append(prep, rollout...) {
		if strings.HasPrefix(c, "temporal operator search-attribute create") {
			t.Errorf("%q: register the attributes with guildhall temporal setup, which the services check against", c)
		}
	}
}

// checkPayload reports the problems payloadProblems finds.
func checkPayload(t *testing.T, cmd, name, input string, update bool) {
	t.Helper()
	for _, p := range payloadProblems(name, input, update) {
		t.Errorf("%q: %s", cmd, p)
	}
}

// payloadProblems decodes a signal or update payload strictly into its contract type
// and lists what is wrong with it.
func payloadProblems(name, input string, update bool) []string {
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader([]byte(input)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return err
		}
		if dec.More() {
			return fmt.Errorf("trailing data")
		}
		return nil
	}
	if update && name != contract.UpdateSign {
		return []string{fmt.Sprintf("update %q, want %q", name, contract.UpdateSign)}
	}
	var (
		key      string
		problems []string
	)
	switch name {
	case contract.UpdateSign, contract.SignalWitnessSignature:
		var r contract.SignRequest
		if err := strict(&r); err != nil {
			return []string{"payload: " + err.Error()}
		}
		if r.WitnessID == "" || (r.Decision != contract.Approve && r.Decision != contract.Reject) {
			problems = append(problems, "needs witnessId and decision approve|reject")
		}
		key = r.IdempotencyKey
	case contract.SignalCancel:
		var r contract.Cancel
		if err := strict(&r); err != nil {
			return []string{"payload: " + err.Error()}
		}
		if r.By == "" || r.Reason == "" {
			problems = append(problems, "cancel needs by and reason")
		}
		key = r.IdempotencyKey
	case contract.SignalSubstrateDecision:
		var r contract.SubstrateDecision
		if err := strict(&r); err != nil {
			return []string{"payload: " + err.Error()}
		}
		if r.Phase != "Sealed" && r.Phase != "Aborted" && r.Phase != "Expired" {
			problems = append(problems, fmt.Sprintf("phase %q", r.Phase))
		}
		key = r.IdempotencyKey
	case contract.SignalSpecChanged:
		var r contract.SpecChanged
		if err := strict(&r); err != nil {
			return []string{"payload: " + err.Error()}
		}
		key = r.IdempotencyKey
	default:
		return []string{fmt.Sprintf("the workflow handles no signal %q", name)}
	}
	if key == "" {
		problems = append(problems, "payload has no idempotencyKey")
	}
	return problems
}

// The checks catch a wrong payload field and a wrong message name.
func TestRunbookPayloadCheckCatchesMistakes(t *testing.T) {
	for _, tc := range []struct{ name, input string }{
		{contract.SignalWitnessSignature, `{"idempotencyKey":"k-1","witness":"alice@example.org","decision":"approve"}`},
		{contract.SignalWitnessSignature, `{"idempotencyKey":"k-1","witnessId":"alice@example.org","decision":"yes"}`},
		{contract.SignalCancel, `{"idempotencyKey":"k-2","by":"operator"}`},
		{contract.SignalCancel, `{"by":"operator","reason":"x"}`},
		{"witness_signature", `{"idempotencyKey":"k-1","witnessId":"a","decision":"approve"}`},
	} {
		if len(payloadProblems(tc.name, tc.input, false)) == 0 {
			t.Errorf("payload %s %s was accepted", tc.name, tc.input)
		}
	}
}
