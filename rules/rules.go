// Package rules is the one home of a ceremony's rules: what a valid spec is (every
// limit a named constant), who its members are, what a decision is, and who may
// sign what. It is pure Go with no Temporal or I/O, so the workflow calls it
// deterministically, and the web, the watcher, the CLI and the store call the same
// code: a spec one of them accepts, the others accept too.
//
// The CRD schema in deploy/crds repeats the limits it can express; a test in
// deploy ties them to these constants.
package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// Limits on a spec. Ids are bounded so that everything a ceremony keeps fits the
// workflow's state, the search attributes and one Kubernetes object.
const (
	// MaxNamespace and MaxName bound the parts of a ceremony id "<namespace>/<name>":
	// a Kubernetes namespace (a DNS label) and object name (a DNS subdomain).
	MaxNamespace  = 63
	MaxName       = 253
	MaxCeremonyID = MaxNamespace + 1 + MaxName
	// MaxPersonID bounds witness and initiator ids: an OIDC subject or an e-mail
	// address (254 characters at most, RFC 5321).
	MaxPersonID     = 254
	MaxRole         = 63
	MaxTitle        = 200
	MaxDescription  = 4096
	MaxArtifactName = 253
	MaxURI          = 2048
	MaxWitnesses    = 100
	// MaxPolicyRoles bounds the role minimums and, separately, the veto roles.
	MaxPolicyRoles = 20
	// MinDeadlineLead and MaxDeadlineAhead bound the deadline a person picks in
	// the composer: time for the witnesses to sign, and not so far ahead that
	// the ceremony is forgotten. They are the composer's: the workflow only
	// needs a future deadline, since a message may arrive late, and scripts and
	// resources may plan further ahead.
	MinDeadlineLead  = 5 * time.Minute
	MaxDeadlineAhead = 366 * 24 * time.Hour
)

// Limits on a signature request.
const (
	MaxComment        = 4000
	MaxIdempotencyKey = 200
	MaxVia            = 32
)

// MaxWithdrawReason bounds the reason a person gives for withdrawing a ceremony.
const MaxWithdrawReason = 1000

// Digest is the pattern of an artifact digest: "sha256:" and 64 lowercase hex digits.
var Digest = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
)

// Problem is one thing wrong with a spec or request, keyed by the JSON path of the
// field it is about ("artifact.digest", "witnesses[2].id", "quorum.roles[security]").
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Problems is every problem found; nil means valid.
type Problems []Problem

// Error joins the problems in plain words.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// Err is ps as an error, nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// On returns the problems about field or its sub-fields.
func (ps Problems) On(field string) Problems {
	var out Problems
	for _, p := range ps {
		if p.Field == field || strings.HasPrefix(p.Field, field+".") || strings.HasPrefix(p.Field, field+"[") {
			out = append(out, p)
		}
	}
	return out
}

func (ps *Problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Clip shortens a value quoted back in a problem.
func Clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

// CeremonyID checks a ceremony id: "<namespace>/<name>", a Kubernetes namespace and
// object name, as the workflow id and the web's addresses need it.
func CeremonyID(id string) error {
	ns, name, ok := strings.Cut(id, "/")
	switch {
	case id == "":
		return fmt.Errorf("id is empty")
	case !ok || !dnsLabel.MatchString(ns):
		return fmt.Errorf("id %q is not <namespace>/<name> with a namespace of lowercase letters, digits and dashes (at most %d)", Clip(id), MaxNamespace)
	case !dnsSubdomain.MatchString(name):
		return fmt.Errorf("id %q: the name must be lowercase letters, digits, dots and dashes (at most %d), starting and ending with a letter or digit", Clip(id), MaxName)
	}
	return nil
}

// NameOK reports whether name is a valid ceremony name (the part after the namespace).
func NameOK(name string) bool { return dnsSubdomain.MatchString(name) }

// NamespaceOK reports whether ns is a valid Kubernetes namespace (a DNS label,
// at most MaxNamespace characters): the part of a ceremony id before the "/".
func NamespaceOK(ns string) bool { return dnsLabel.MatchString(ns) }

// ParseDecision reads a decision: "approve" or "reject".
func ParseDecision(s string) (contract.Decision, error) {
	d := contract.Decision(s)
	if d != contract.Approve && d != contract.Reject {
		return d, fmt.Errorf("must be %q or %q, not %q", contract.Approve, contract.Reject, Clip(s))
	}
	return d, nil
}

// Deadline checks a deadline against now: set, and in the future.
func Deadline(d, now time.Time) error {
	switch {
	case d.IsZero():
		return fmt.Errorf("deadline is missing")
	case !d.After(now):
		return fmt.Errorf("deadline %s is in the past", d.UTC().Format(time.RFC3339))
	}
	return nil
}

// ComposerDeadline checks the deadline a person picks in the composer: at least
// MinDeadlineLead from now and at most MaxDeadlineAhead.
func ComposerDeadline(d, now time.Time) error {
	switch {
	case !d.After(now.Add(MinDeadlineLead)):
		return fmt.Errorf("the deadline must be at least %d minutes from now", int(MinDeadlineLead.Minutes()))
	case d.After(now.Add(MaxDeadlineAhead)):
		return fmt.Errorf("the deadline must be within %d days", int(MaxDeadlineAhead.Hours()/24))
	}
	return nil
}

func kindOK(k string) bool { return slices.Contains(contract.Kinds, k) }
