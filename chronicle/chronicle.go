// Package chronicle projects events from the substrate's Chronicle collector into
// the Ops DB: each event is stored once (by its id), recorded on the custody
// chain, and applied to the artifact lifecycle where its type says so.
//
// An event is one JSON object; in files and request bodies, one per line:
//
//	{"id":"evt-0001","type":"artifact.revoked","source":"chronicle/cluster-a",
//	 "time":"2026-11-27T10:00:00Z",
//	 "artifact":{"name":"guildhall","digest":"sha256:4f53…b945"},
//	 "data":{"reason":"CVE-2026-1234"}}
//
// id, type and time are required; source, artifact and data are optional, except
// that artifact.* types need an artifact. Unknown top-level fields are refused so
// a misspelt field is an error rather than silently ignored; data is free-form.
//
// Effects on the artifact lifecycle:
//
//	artifact.proposed, artifact.observed  start governing the artifact (proposed) if new
//	artifact.revoked                      revoke it (it must be governed here), and
//	                                      withdraw its Intune deployments (WithIntune)
//
// Every other type is recorded without effect. Attested and released are never
// set from outside: only a ceremony reaching quorum and being sealed does that.
package chronicle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/gowebpki/jcs"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// Event is one Chronicle event.
type Event struct {
	ID       string             `json:"id"`
	Type     string             `json:"type"`
	Source   string             `json:"source,omitempty"`
	Time     time.Time          `json:"time"`
	Artifact *contract.Artifact `json:"artifact,omitempty"`
	Data     json.RawMessage    `json:"data,omitempty"`
}

// MaxEventSize bounds one event (one line).
const MaxEventSize = 64 << 10

var (
	typePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,99}$`)
)

// effects maps event types to artifact lifecycle effects.
var effects = map[string]string{
	"artifact.proposed": store.ArtifactProposed,
	"artifact.observed": store.ArtifactProposed,
	"artifact.revoked":  store.ArtifactRevoked,
}

// InvalidError is an event that cannot be projected because of its content; the
// sender must fix it (as opposed to a database failure, worth retrying).
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// Parse decodes and checks one event, returning it with its canonical bytes.
func Parse(raw []byte) (Event, []byte, error) {
	var e Event
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxEventSize {
		return e, nil, invalid("event is %d bytes; at most %d are accepted", len(raw), MaxEventSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, nil, invalid("not a Chronicle event: %s", plain(err))
	}
	if dec.More() {
		return e, nil, invalid("more than one JSON value on the line")
	}
	switch {
	case strings.TrimSpace(e.ID) == "":
		return e, nil, invalid("id is required")
	case len(e.ID) > 200 || strings.IndexFunc(e.ID, unicode.IsControl) >= 0:
		return e, nil, invalid("id must be at most 200 printable characters")
	case e.Type == "":
		return e, nil, invalid("event %s: type is required", e.ID)
	case !typePattern.MatchString(e.Type):
		return e, nil, invalid("event %s: type %q must be lowercase words separated by dots, e.g. artifact.revoked", e.ID, e.Type)
	case e.Time.IsZero():
		return e, nil, invalid("event %s: time is required (RFC 3339)", e.ID)
	case len(e.Source) > 200 || strings.IndexFunc(e.Source, unicode.IsControl) >= 0:
		return e, nil, invalid("event %s: source must be at most 200 printable characters", e.ID)
	}
	if e.Artifact != nil && !rules.Digest.MatchString(e.Artifact.Digest) {
		return e, nil, invalid("event %s: artifact digest %q is not sha256:<64 lowercase hex digits>", e.ID, e.Artifact.Digest)
	}
	if _, ok := effects[e.Type]; ok && e.Artifact == nil {
		return e, nil, invalid("event %s: a %s event needs an artifact", e.ID, e.Type)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return e, nil, invalid("event %s: %v", e.ID, err)
	}
	return e, canon, nil
}

// plain strips encoding/json's Go type names from decode errors.
func plain(err error) string {
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("time %s is not an RFC 3339 time such as 2026-11-27T10:00:00Z", pe.Value)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Store is what the projector writes to; *store.Store satisfies it.
type Store interface {
	ProjectChronicle(ctx context.Context, in store.ChronicleInput) (store.ChronicleResult, error)
}

// Projector projects events into the Ops DB.
type Projector struct {
	store  Store
	intune *IntuneWithdrawal
}

// NewProjector returns a projector writing to st.
func NewProjector(st Store) *Projector { return &Projector{store: st} }

// Result says what happened to one event.
type Result struct {
	ID        string `json:"id"`
	Seq       int64  `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Project parses and projects one event. Invalid content is an *InvalidError;
// anything else is a failure worth retrying.
func (p *Projector) Project(ctx context.Context, raw []byte) (Result, error) {
	e, canon, err := Parse(raw)
	if err != nil {
		return Result{ID: e.ID}, err
	}
	sum := sha256.Sum256(canon)
	in := store.ChronicleInput{ID: e.ID, Type: e.Type, Source: e.Source, OccurredAt: e.Time, Body: canon,
		BodyHash: hex.EncodeToString(sum[:]), Artifact: e.Artifact, ArtifactState: effects[e.Type], Reason: reasonOf(e.Data)}
	res, err := p.store.ProjectChronicle(ctx, in)
	switch {
	case errors.Is(err, store.ErrChronicleConflict), errors.Is(err, store.ErrChronicleRefused):
		return Result{ID: e.ID}, &InvalidError{Reason: err.Error()}
	case err != nil:
		return Result{ID: e.ID}, fmt.Errorf("project event %s: %w", e.ID, err)
	}
	if in.ArtifactState == store.ArtifactRevoked && p.intune != nil {
		// Also for a duplicate: a resend is how a failed start is retried.
		if err := p.intune.withdraw(ctx, e.Artifact.Digest, "chronicle:"+e.ID); err != nil {
			return Result{ID: e.ID, Seq: res.Seq, Duplicate: res.Duplicate}, fmt.Errorf(
				"event %s revoked artifact %s, but withdrawing its Intune deployments could not be started (%w); resend the event: it is recorded once", e.ID, e.Artifact.Digest, err)
		}
	}
	return Result{ID: e.ID, Seq: res.Seq, Duplicate: res.Duplicate}, nil
}

func reasonOf(data json.RawMessage) string {
	var d struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(data, &d)
	return d.Reason
}

// LineError is one event that was not projected.
type LineError struct {
	Line  int    `json:"line"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error"`
	// Retry is set when the failure was not the event's fault (database down).
	Retry bool `json:"retry,omitempty"`
}

// Summary counts an import.
type Summary struct {
	Lines      int         `json:"lines"` // non-blank lines read
	Projected  int         `json:"projected"`
	Duplicates int         `json:"duplicates"`
	Failed     int         `json:"failed"`
	Errors     []LineError `json:"errors,omitempty"`
}

// maxLine bounds a line read from a file or request; longer ones are reported
// and skipped.
const maxLine = 1 << 20

// Import projects JSON lines from r, one event per line. A bad line is reported
// in the summary and the rest carry on; blank lines are skipped. The error is
// only for failing to read r or a cancelled context.
func (p *Projector) Import(ctx context.Context, r io.Reader) (Summary, error) {
	var sum Summary
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		line, tooLong, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return sum, fmt.Errorf("read line %d: %w", n, err)
		}
		if tooLong {
			sum.Lines++
			sum.Failed++
			sum.Errors = append(sum.Errors, LineError{Line: n, Error: fmt.Sprintf("line is longer than %d bytes", maxLine)})
		} else if len(bytes.TrimSpace(line)) > 0 {
			sum.Lines++
			res, perr := p.Project(ctx, line)
			var inv *InvalidError
			switch {
			case perr == nil && res.Duplicate:
				sum.Duplicates++
			case perr == nil:
				sum.Projected++
			default:
				sum.Failed++
				sum.Errors = append(sum.Errors, LineError{Line: n, ID: res.ID, Error: perr.Error(), Retry: !errors.As(perr, &inv)})
			}
		}
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
	}
}

// readLine reads one line without its newline; a line over maxLine is consumed
// and reported as too long instead of returned.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxLine {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}
