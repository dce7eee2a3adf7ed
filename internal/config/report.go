package config

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// prefixes are Guildhall's own: a variable with one of them that no role reads
// is almost certainly a typo. TEMPORAL_* is left out because the temporal CLI
// reads variables of its own with that prefix.
var prefixes = []string{"GUILDHALL_", "NOTIFY_", "OIDC_", "GRAPH_"}

// testPrefix marks variables the test harnesses read, never the binary.
const testPrefix = "GUILDHALL_TEST_"

// Known lists every variable some role reads, sorted.
func Known() []string {
	var names []string
	for _, role := range Roles {
		cfg, _ := New(role)
		for _, f := range Fields(cfg) {
			names = append(names, f.Env)
			if f.Alt != "" {
				names = append(names, f.Alt)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Unknown returns a warning for each variable in environ (os.Environ's form) that
// carries one of Guildhall's prefixes but is read by no role, with the nearest
// known name when one is close.
func Unknown(environ []string) []string {
	known := Known()
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, testPrefix) || slices.Contains(known, name) {
			continue
		}
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		msg := fmt.Sprintf("%s is set but no Guildhall setting has that name; it is ignored", name)
		if near := nearest(name, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, msg)
	}
	slices.Sort(out)
	return out
}

// nearest returns the known name within two edits of name, if any.
func nearest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of two ASCII names.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Print writes cfg (a role struct, loaded) as a table of variable, value and
// meaning, secrets hidden.
func Print(w io.Writer, cfg any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tMEANING")
	for _, f := range Fields(cfg) {
		v := f.Value()
		if v == "" {
			v = "(unset)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Env, v, f.Doc)
	}
	return tw.Flush()
}
