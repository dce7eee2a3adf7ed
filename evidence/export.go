package evidence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Source is what Export reads from the Ops DB; *store.Store satisfies it.
type Source interface {
	CeremonyCustody(ctx context.Context, ceremonyID string) ([]store.CustodyEvent, error)
	CustodyLink(ctx context.Context, seq int64) (store.CustodyEvent, error)
	CustodyRange(ctx context.Context, from, to int64) ([]store.CustodyEvent, error)
	ChainHead(ctx context.Context) (store.CustodyEvent, error)
	Signatures(ctx context.Context, ceremonyID string) ([]store.Signature, error)
	GetWitness(ctx context.Context, id string) (store.Witness, error)
}

// Options tune Export.
type Options struct {
	// Now stamps meta.exportedAt (default time.Now).
	Now func() time.Time
	// ToHead extends the segment past the ceremony's last event to the current
	// chain head. By default it ends at the ceremony's last event, whose hash is
	// the head a CeremonyAttestation records at sealing, and the file stays
	// bounded by the ceremony's own lifetime however long the chain grows.
	ToHead bool
	// Exporter names the producing program in meta (default "guildhall").
	Exporter string
}

// ErrNoCeremony is returned when the ceremony has no custody events.
var ErrNoCeremony = errors.New("no such ceremony on the custody chain")

// Export builds the evidence bundle of a ceremony. It verifies the chain segment
// as it reads it and refuses to export a broken one.
func Export(ctx context.Context, src Source, ceremonyID string, o Options) (*Bundle, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Exporter == "" {
		o.Exporter = "guildhall"
	}
	events, err := src.CeremonyCustody(ctx, ceremonyID)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%s: %w", ceremonyID, ErrNoCeremony)
	}
	first := events[0].Seq
	anchor := Point{Seq: -1, Hash: custody.ZeroHash}
	if first > 0 {
		a, err := src.CustodyLink(ctx, first-1)
		if err != nil {
			return nil, fmt.Errorf("read the link before the ceremony: %w", err)
		}
		anchor = Point{Seq: a.Seq, Hash: a.Hash}
	}
	last := events[len(events)-1]
	if o.ToHead {
		if last, err = src.ChainHead(ctx); err != nil {
			return nil, err
		}
	}
	rows, err := src.CustodyRange(ctx, first, last.Seq)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: Format, Custody: Custody{Anchor: anchor, Links: make([]Link, 0, len(rows))}}
	v := custody.NewSegmentVerifier(anchor.Seq, anchor.Hash)
	for _, r := range rows {
		if err := v.Next(r.Link()); err != nil {
			return nil, fmt.Errorf("will not export from a broken chain (run `guildhall verify`): %w", err)
		}
		b.Custody.Links = append(b.Custody.Links, Link{Seq: r.Seq, Type: r.Type, Event: []byte(r.Body), PrevHash: r.PrevHash, Hash: r.Hash})
	}
	seq, hash := v.Head()
	b.Custody.Head = Point{Seq: seq, Hash: hash}
	d, err := deriveFrom(ceremonyID, b.Custody.Links)
	if err != nil {
		return nil, err
	}
	b.Custody.CeremonySeqs = d.ceremonySeqs
	if len(d.specs) == 0 {
		return nil, fmt.Errorf("ceremony %s has no opened event on the chain", ceremonyID)
	}
	cur := d.specs[len(d.specs)-1]
	b.Ceremony = Ceremony{ID: ceremonyID, Spec: cur.raw, SpecSeq: cur.seq,
		PolicyHash: statement.PolicyHash(cur.spec), Policy: statement.PolicyWords(cur.spec)}
	b.Signatures = d.signatures
	if err := attachKeys(ctx, src, ceremonyID, b.Signatures, d.keysOnChain); err != nil {
		return nil, err
	}
	b.Outcome = d.outcome
	b.Meta = Meta{CeremonyID: ceremonyID, ExportedAt: o.Now().UTC().Format(time.RFC3339), Exporter: o.Exporter}
	return b, nil
}

// attachKeys adds the public key each proof was checked with: the one recorded
// on the chain with the signature, else the copy on the signature row, else the
// witness's currently registered key with that id.
func attachKeys(ctx context.Context, src Source, ceremonyID string, sigs []Signature, onChain map[int64]*statement.PublicKey) error {
	var rows []store.Signature
	for i := range sigs {
		s := &sigs[i]
		if s.Proof == nil {
			continue
		}
		if k := onChain[s.CustodySeq]; k != nil {
			s.PublicKey = k
			continue
		}
		if rows == nil {
			var err error
			if rows, err = src.Signatures(ctx, ceremonyID); err != nil {
				return err
			}
		}
		for _, r := range rows {
			if r.WitnessID == s.WitnessID && r.Epoch == s.Epoch && r.PublicKey != "" {
				s.PublicKey = &statement.PublicKey{WitnessID: s.WitnessID, Type: s.Proof.Type, KeyID: s.Proof.KeyID, PublicKey: r.PublicKey}
			}
		}
		if s.PublicKey != nil {
			continue
		}
		w, err := src.GetWitness(ctx, s.WitnessID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, c := range w.Credentials {
			if c.KeyID == s.Proof.KeyID && c.Type == s.Proof.Type {
				s.PublicKey = &statement.PublicKey{WitnessID: s.WitnessID, Type: c.Type, KeyID: c.KeyID, PublicKey: c.PublicKey}
			}
		}
		// No key found: the bundle says so and verification will fail on it.
	}
	return nil
}

// ExportBytes is Export followed by Encode.
func ExportBytes(ctx context.Context, src Source, ceremonyID string, o Options) ([]byte, error) {
	b, err := Export(ctx, src, ceremonyID, o)
	if err != nil {
		return nil, err
	}
	return b.Encode()
}

// Filename is a safe download name for a ceremony's bundle.
func Filename(ceremonyID string) string {
	var b strings.Builder
	for _, r := range ceremonyID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return "evidence-" + b.String() + ".json"
}

// Handler serves a ceremony's bundle as a download (GET). ceremonyID extracts the
// id from the request; nil reads chi's {ns} and {name} URL parameters as
// "<ns>/<name>". Authentication is the mounting app's job.
func Handler(src Source, ceremonyID func(*http.Request) string) http.Handler {
	if ceremonyID == nil {
		ceremonyID = func(r *http.Request) string {
			ns, name := chi.URLParam(r, "ns"), chi.URLParam(r, "name")
			if ns == "" || name == "" {
				return ""
			}
			return ns + "/" + name
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		id := ceremonyID(r)
		if id == "" {
			http.Error(w, "no ceremony named", http.StatusNotFound)
			return
		}
		body, err := ExportBytes(r.Context(), src, id, Options{})
		switch {
		case errors.Is(err, ErrNoCeremony):
			http.Error(w, "no such ceremony", http.StatusNotFound)
			return
		case err != nil:
			slog.ErrorContext(r.Context(), "evidence export failed", "ceremony", id, "error", err)
			msg := "The evidence bundle could not be built; the server log has the details."
			var brk *custody.Break
			if errors.As(err, &brk) {
				msg = "The evidence bundle was not built because the custody chain is broken: " + brk.Error()
			}
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+Filename(id)+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}
