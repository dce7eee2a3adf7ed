package worker_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/internal/testenv"
)

// readmeCommands returns the words of the README's cli-example commands.
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	var cmds [][]string
	for _, c := range testenv.READMECommands(t, "../README.md", "cli-example") {
		cmds = append(cmds, c.Words)
	}
	return cmds
}

// TestReadmeCLIExample opens a ceremony and brings it to quorum with nothing but
// the temporal CLI, running the README's commands as written (plus --address),
// then checks what the worker wrote to the Ops DB.
func TestReadmeCLIExample(t *testing.T) {
	_, s := stack(t) // a worker on the contract's task queue, as `make run` has
	bin, err := testenv.TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t)
	if len(cmds) < 4 {
		t.Fatalf("README block has %d commands", len(cmds))
	}
	run := func(args []string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		full := append(append([]string{}, args[1:]...), "--address", dev.HostPort())
		out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
		return string(out), err
	}
	workflowID := ""
	var queryCmd []string
	for _, c := range cmds {
		if c[0] != "temporal" {
			t.Fatalf("README block runs %q; only the temporal CLI is allowed", c[0])
		}
		for i, w := range c {
			if w == "--workflow-id" && i+1 < len(c) {
				workflowID = c[i+1]
			}
		}
		verb := strings.Join(c[1:3], " ")
		if verb == "workflow query" {
			queryCmd = c
		}
		if verb == "workflow list" {
			// Visibility is eventually consistent, and the signal before it is
			// asynchronous: wait, with the README's own query, for the quorum.
			testenv.Eventually(t, 15*time.Second, "the CLI's effect", func() bool { out, err := run(queryCmd); return err == nil && strings.Contains(out, "quorum_reached") })
			testenv.Eventually(t, 15*time.Second, "the CLI's effect", func() bool { out, err := run(c); return err == nil && strings.Contains(out, workflowID) })
			continue
		}
		out, err := run(c)
		if err != nil {
			t.Fatalf("%s\nfailed: %v\n%s", strings.Join(c, " "), err, out)
		}
		if verb == "workflow update" && !strings.Contains(out, "approvals:1 ") {
			t.Fatalf("sign update answered:\n%s", out)
		}
	}
	id, ok := contract.CeremonyIDFromWorkflowID(workflowID)
	if !ok {
		t.Fatalf("workflow id %q", workflowID)
	}
	ctx := context.Background()
	row, err := s.GetCeremony(ctx, id)
	if err != nil || row.Status != "quorum_reached" || row.Approvals != 2 || row.Title != "Release guildhall v0.1.1" {
		t.Fatalf("ceremony row %+v %v", row, err)
	}
	sigs, err := s.Signatures(ctx, id)
	if err != nil || len(sigs) != 2 || sigs[0].WitnessID != "alice@guildhouse.dev" || sigs[0].Via != "cli" ||
		sigs[0].Comment != "checked the digest" || sigs[1].WitnessID != "bob@guildhouse.dev" {
		t.Fatalf("signature rows %+v %v", sigs, err)
	}
	types := map[string]int{}
	events, _ := s.CeremonyCustody(ctx, id)
	for _, e := range events {
		types[e.Type]++
	}
	if types["ceremony.opened"] != 1 || types["signature.accepted"] != 2 || types["ceremony.status_changed"] != 1 {
		t.Fatalf("custody events %v", types)
	}
}
