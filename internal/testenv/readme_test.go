package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShellWords(t *testing.T) {
	got, err := ShellWords(`temporal workflow list --query "CeremonyStatus = 'collecting' AND X = \"y\"" --input '{"a":"b #c"}' a\ b a#b # a comment`)
	want := []string{"temporal", "workflow", "list", "--query", `CeremonyStatus = 'collecting' AND X = "y"`, "--input", `{"a":"b #c"}`, "a b", "a#b"}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q %v", got, err)
	}
}

func TestREADMECommands(t *testing.T) {
	p := filepath.Join(t.TempDir(), "README.md")
	text := "x\n<!-- demo:begin -->\n```sh\n# a comment\nguildhall one \\\n  --flag \"a b\"   # why\ncat > f.yaml <<'YAML'\nname: x\n  indented: y\nYAML\nguildhall two\n```\n<!-- demo:end -->\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := READMECommands(t, p, "demo")
	if len(got) != 3 || strings.Join(got[0].Words, "|") != "guildhall|one|--flag|a b" ||
		strings.Join(got[1].Words, "|") != "cat|>|f.yaml" || got[1].Stdin != "name: x\n  indented: y\n" || got[2].Words[1] != "two" {
		t.Fatalf("got %+v", got)
	}
}
