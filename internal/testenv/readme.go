package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Command is one command of a README block: its words as a shell splits them,
// and the here-document it reads, if any.
type Command struct {
	Words []string
	Stdin string
}

// READMECommands returns the commands of the fenced sh block between
// <!-- name:begin --> and <!-- name:end --> in the file at path: lines joined
// at backslash-newlines, comment lines skipped, each split into words as a
// shell would (quotes, trailing comments), a here-document (<<'TAG' … TAG)
// kept as the command's Stdin. Tests run them so the README cannot go stale.
func READMECommands(t testing.TB, path, name string) []Command {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- "+name+":begin -->")
	block, _, ok2 := strings.Cut(after, "<!-- "+name+":end -->")
	if !ok || !ok2 {
		t.Fatalf("%s has no %s block", path, name)
	}
	_, block, _ = strings.Cut(block, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	block = strings.ReplaceAll(block, "\\\n", " ")
	var cmds []Command
	lines := strings.Split(block, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := ShellWords(line)
		if err != nil {
			t.Fatalf("%s line %q: %v", path, line, err)
		}
		c := Command{Words: words}
		for j, w := range words {
			tag, isDoc := strings.CutPrefix(w, "<<")
			if !isDoc {
				continue
			}
			c.Words = append(words[:j:j], words[j+1:]...)
			var doc []string
			for i++; i < len(lines) && lines[i] != tag; i++ {
				doc = append(doc, lines[i])
			}
			c.Stdin = strings.Join(doc, "\n") + "\n"
			break
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// ShellWords splits a line as POSIX sh does for the quoting the READMEs use;
// an unquoted # at the start of a word begins a comment.
func ShellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; ch {
		case ' ', '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unclosed double quote")
			}
			i, inWord = j, true
		case '\\':
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
				inWord = true
			}
		case '#':
			if !inWord {
				return words, nil
			}
			cur.WriteByte(ch)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
