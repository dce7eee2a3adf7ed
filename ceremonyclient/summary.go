package ceremonyclient

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// What an operator sees of a ceremony in the Temporal UI and CLI besides its
// workflow id: the static summary (one line, shown in the workflow list as
// "Summary" and on the workflow's page) and the static details (on the
// workflow's page), both set once at start. They describe the ceremony as it
// was opened; the status query, the search attributes and the memo title are
// kept current by the workflow after amendments.

// maxSummary is the server's limit on a static summary, in bytes.
const maxSummary = 200

// Summary is the one-line description of a ceremony as opened: title, kind,
// artifact and its short digest, initiator.
func Summary(spec contract.Spec) string {
	tail := fmt.Sprintf(" · %s · %s %s · by %s", spec.Kind, spec.Artifact.Name, shortDigest(spec.Artifact.Digest), spec.Initiator)
	title := rules.Title(spec)
	if room := maxSummary - len(tail); len(title) > room {
		title = truncate(title, room-len("…")) + "…"
	}
	s := title + tail
	if len(s) > maxSummary { // an unusually long artifact name or initiator
		s = truncate(s, maxSummary-len("…")) + "…"
	}
	return s
}

// Details is the Markdown an operator reads on the workflow's page: what the
// witnesses sign, under which policy, by when.
func Details(spec contract.Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%s ceremony `%s`), as opened", rules.Title(spec), spec.Kind, spec.ID)
	if spec.Source != "" {
		fmt.Fprintf(&b, " from %s", spec.Source)
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "- Artifact: %s `%s`", spec.Artifact.Name, spec.Artifact.Digest)
	if spec.Artifact.URI != "" {
		fmt.Fprintf(&b, " at `%s`", spec.Artifact.URI)
	}
	fmt.Fprintf(&b, "\n- Initiator: %s\n- Witnesses: ", spec.Initiator)
	for i, w := range spec.Witnesses {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(w.ID)
		if w.Role != "" {
			fmt.Fprintf(&b, " (%s)", w.Role)
		}
	}
	fmt.Fprintf(&b, "\n- Quorum: %s", rules.PolicyWords(spec.Quorum))
	fmt.Fprintf(&b, "\n- Deadline: %s\n\nCurrent state: query `status`, or the Ceremony* search attributes.",
		spec.Deadline.UTC().Format("2006-01-02 15:04 UTC"))
	return b.String()
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
