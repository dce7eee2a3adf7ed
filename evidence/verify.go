package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
)

// Problem is one thing wrong with a bundle.
type Problem struct {
	Section string
	Message string
}

func (p Problem) String() string { return p.Section + ": " + p.Message }

// Failed lists everything wrong with a bundle.
type Failed struct{ Problems []Problem }

func (f *Failed) Error() string {
	parts := make([]string, len(f.Problems))
	for i, p := range f.Problems {
		parts[i] = p.String()
	}
	return "evidence bundle does not verify: " + strings.Join(parts, "; ")
}

// Report is what a verified bundle shows.
type Report struct {
	CeremonyID string
	Status     string
	Reason     string
	Policy     string
	// Template is the approval template the ceremony's spec was made from, as
	// the custody chain recorded it; nil when it was written by hand.
	Template   *contract.TemplateRef
	ExportedAt string
	Anchor     Point
	Head       Point
	Links      int
	Signatures []SignatureReport
	// CloseAssurance is how whoever cancelled the ceremony (ClosedBy, the name
	// the cancel carries) was authenticated, checked as far as the bundle
	// allows: "session"/"token" need the web app's verified vouch; "operator"
	// says Guildhall authenticated nobody. Empty for other outcomes and for
	// cancels from before it was recorded.
	CloseAssurance string
	ClosedBy       string
	// Graph lists the Graph bridge's events of the ceremony in the segment:
	// every Intune action taken for its decision, and drift found.
	Graph []GraphAction
}

// SignatureReport is one verified signature.
type SignatureReport struct {
	WitnessID string
	Decision  string
	Words     string
	KeyID     string // "" for a decision without a statement proof
	// Assurance is how the signer was authenticated, checked as far as the
	// bundle allows: "key" needs a verified proof, "session"/"token" a verified
	// vouch; "not recorded" for signatures from before assurance was.
	Assurance string
	Voided    bool
}

type checker struct{ problems []Problem }

func (c *checker) add(section, format string, args ...any) {
	c.problems = append(c.problems, Problem{Section: section, Message: fmt.Sprintf(format, args...)})
}

// Verify checks a bundle using nothing but its bytes. It returns what the bundle
// shows, and a *Failed naming every section that does not hold up. Anchors are
// links known from elsewhere (a CeremonyAttestation's chain head, `guildhall
// verify` output) that the bundle's segment must contain; Seq < 0 matches any seq.
func Verify(data []byte, anchors ...Point) (*Report, error) {
	c := &checker{}
	body := bytes.TrimSuffix(data, []byte("\n"))
	if err := custody.CheckCanonical(body); err != nil {
		c.add(SecFile, "not the canonical JSON the exporter writes (edited or reformatted?): %v", err)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		c.add(SecFile, "not an evidence bundle: %v", err)
		return nil, &Failed{c.problems}
	}
	if b.Format != Format {
		c.add(SecFile, "format %q is not %q", b.Format, Format)
		return nil, &Failed{c.problems}
	}
	r := &Report{CeremonyID: b.Ceremony.ID, Status: b.Outcome.Status, Reason: b.Outcome.Reason, Policy: b.Ceremony.Policy,
		ExportedAt: b.Meta.ExportedAt, Anchor: b.Custody.Anchor, Head: b.Custody.Head, Links: len(b.Custody.Links)}

	c.anchors(&b, anchors)
	if d := c.custody(&b); d != nil {
		c.ceremony(&b, d, r)
		c.signatures(&b, d, r)
		c.outcome(&b, d, r)
		r.Graph = d.graph
	}
	c.meta(&b)
	c.digests(&b)
	if len(c.problems) > 0 {
		return r, &Failed{c.problems}
	}
	return r, nil
}

// custody verifies the segment and derives the ceremony from it; nil when the
// segment cannot be trusted.
func (c *checker) custody(b *Bundle) *derived {
	cu := b.Custody
	if len(cu.Links) == 0 {
		c.add(SecCustody, "the segment has no links")
		return nil
	}
	if cu.Anchor.Seq < -1 || (cu.Anchor.Seq == -1 && cu.Anchor.Hash != custody.ZeroHash) {
		c.add(SecCustody, "anchor %d/%s is not a link before the segment", cu.Anchor.Seq, cu.Anchor.Hash)
		return nil
	}
	v := custody.NewSegmentVerifier(cu.Anchor.Seq, cu.Anchor.Hash)
	for _, l := range cu.Links {
		if err := v.Next(custody.Link{Seq: l.Seq, Type: l.Type, Body: l.Event, PrevHash: l.PrevHash, Hash: l.Hash}); err != nil {
			var brk *custody.Break
			if errors.As(err, &brk) {
				c.add(SecCustody, "link %d: %s", brk.Seq, brk.Reason)
			} else {
				c.add(SecCustody, "%v", err)
			}
			return nil
		}
	}
	if seq, hash := v.Head(); seq != cu.Head.Seq || hash != cu.Head.Hash {
		c.add(SecCustody, "head %d/%s is not the segment's last link (%d/%s)", cu.Head.Seq, short(cu.Head.Hash), seq, short(hash))
		return nil
	}
	d, err := deriveFrom(b.Ceremony.ID, cu.Links)
	if err != nil {
		c.add(SecCustody, "%v", err)
		return nil
	}
	if !slices.Equal(d.ceremonySeqs, cu.CeremonySeqs) {
		c.add(SecCustody, "ceremonySeqs %v differ from the links that belong to the ceremony %v", cu.CeremonySeqs, d.ceremonySeqs)
	}
	if len(d.ceremonySeqs) == 0 || d.ceremonySeqs[0] != cu.Links[0].Seq {
		c.add(SecCustody, "the segment does not start at the ceremony's first event, so earlier events could be missing")
	}
	if len(d.specs) == 0 {
		c.add(SecCustody, "the segment has no ceremony.opened event for %q", b.Ceremony.ID)
		return nil
	}
	return d
}

func (c *checker) anchors(b *Bundle, anchors []Point) {
	for _, a := range anchors {
		found := false
		for _, l := range b.Custody.Links {
			if l.Hash == a.Hash && (a.Seq < 0 || l.Seq == a.Seq) {
				found = true
				break
			}
		}
		if !found {
			c.add(SecCustody, "the segment does not contain the anchored link %d:%s", a.Seq, short(a.Hash))
		}
	}
}

func (c *checker) ceremony(b *Bundle, d *derived, r *Report) {
	cur := d.specs[len(d.specs)-1]
	cer := b.Ceremony
	if cer.SpecSeq != cur.seq {
		c.add(SecCeremony, "specSeq %d is not the ceremony's latest spec (link %d)", cer.SpecSeq, cur.seq)
	}
	if !bytes.Equal(cer.Spec, cur.raw) {
		c.add(SecCeremony, "spec differs from the spec recorded in custody link %d", cur.seq)
	}
	if cur.spec.ID != cer.ID {
		c.add(SecCeremony, "id %q differs from the recorded spec's id %q", cer.ID, cur.spec.ID)
	}
	if want := statement.PolicyHash(cur.spec); cer.PolicyHash != want {
		c.add(SecCeremony, "policyHash %s is not the hash of the recorded policy and witnesses (%s)", short(cer.PolicyHash), short(want))
	}
	r.Template = cur.spec.Template
	if want := statement.PolicyWords(cur.spec); cer.Policy != want {
		c.add(SecCeremony, "policy words differ from the recorded policy: %q", want)
	}
}

func (c *checker) signatures(b *Bundle, d *derived, r *Report) {
	if len(b.Signatures) != len(d.signatures) {
		c.add(SecSignatures, "%d signatures listed, but the custody segment records %d", len(b.Signatures), len(d.signatures))
		return
	}
	for i, s := range b.Signatures {
		want := d.signatures[i]
		name := fmt.Sprintf("signature %d (%s)", i+1, s.WitnessID)
		got := s
		got.PublicKey = nil
		if !reflect.DeepEqual(got, want) {
			c.add(SecSignatures, "%s: %s differs from custody link %d", name, differingFields(got, want), want.CustodySeq)
			continue
		}
		rep := SignatureReport{WitnessID: s.WitnessID, Decision: s.Decision, Words: s.Words, Voided: s.Voided, Assurance: orNotRecorded(s.Assurance)}
		if !c.vouch(b, s, name) {
			continue
		}
		if s.Proof == nil {
			if s.PublicKey != nil {
				c.add(SecSignatures, "%s: has a public key but no proof", name)
			}
			if strings.HasPrefix(s.Assurance, string(contract.AssuranceKey)) {
				c.add(SecSignatures, "%s: claims key assurance but carries no proof", name)
				continue
			}
			rep.Words = "decision without a statement proof: " + s.Decision
			r.Signatures = append(r.Signatures, rep)
			continue
		}
		rep.KeyID = s.Proof.KeyID
		k := s.PublicKey
		switch {
		case k == nil:
			c.add(SecSignatures, "%s: no public key for key %s, so the signature cannot be checked", name, s.Proof.KeyID)
			continue
		case k.WitnessID != s.WitnessID || k.KeyID != s.Proof.KeyID || k.Type != s.Proof.Type:
			c.add(SecSignatures, "%s: the public key is %s's %s key %s, not the signer's key %s", name, k.WitnessID, k.Type, k.KeyID, s.Proof.KeyID)
			continue
		}
		if onChain := d.keysOnChain[s.CustodySeq]; onChain != nil && *onChain != *k {
			c.add(SecSignatures, "%s: the public key differs from the one recorded with the signature in custody link %d", name, s.CustodySeq)
			continue
		}
		st, err := statement.Parse([]byte(s.Statement))
		if err != nil {
			c.add(SecSignatures, "%s: %v", name, err)
			continue
		}
		if sp, ok := d.current(s.CustodySeq); !ok {
			c.add(SecSignatures, "%s: no spec was in force when it was signed", name)
		} else if why := st.Matches(sp.spec, s.WitnessID, contract.Decision(s.Decision), s.Comment); why != "" {
			c.add(SecSignatures, "%s: the statement does not match the ceremony as it stood (link %d): %s", name, sp.seq, why)
		}
		if err := statement.VerifyProof([]byte(s.Statement), s.Proof, []statement.PublicKey{*k}); err != nil {
			c.add(SecSignatures, "%s: %v", name, err)
			continue
		}
		r.Signatures = append(r.Signatures, rep)
	}
}

// differingFields names the fields of two signatures that differ.
func differingFields(a, b Signature) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var names []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			tag, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			names = append(names, tag)
		}
	}
	return strings.Join(names, ", ")
}

func (c *checker) outcome(b *Bundle, d *derived, r *Report) {
	if !reflect.DeepEqual(b.Outcome, d.outcome) {
		c.add(SecOutcome, "%s differs from what the custody segment records (%+v)", differingOutcome(b.Outcome, d.outcome), d.outcome)
		return
	}
	o := b.Outcome
	if o.CloseAssurance == "" {
		return
	}
	r.CloseAssurance, r.ClosedBy = o.CloseAssurance, o.ClosedBy
	level, _, _ := strings.Cut(o.CloseAssurance, " ")
	if level != string(contract.AssuranceSession) && level != string(contract.AssuranceToken) {
		return
	}
	msg := contract.Cancel{IdempotencyKey: o.CloseMessageKey, By: o.ClosedBy, Reason: o.Reason, Vouch: o.CloseVouch}
	if err := statement.VerifyCancelVouch(b.Ceremony.ID, msg, o.CloseVouchPublicKey); err != nil || o.CloseVouch.Level != contract.Assurance(level) {
		c.add(SecOutcome, "the cancel claims %s assurance for %s, but the web app's vouch does not check out: %v", level, o.ClosedBy, err)
		r.CloseAssurance = ""
	}
}

func differingOutcome(a, b Outcome) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var names []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			tag, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
			names = append(names, tag)
		}
	}
	return strings.Join(names, ", ")
}

func (c *checker) meta(b *Bundle) {
	if b.Meta.CeremonyID != b.Ceremony.ID {
		c.add(SecMeta, "ceremonyId %q differs from the ceremony section's %q", b.Meta.CeremonyID, b.Ceremony.ID)
	}
	if _, err := time.Parse(time.RFC3339, b.Meta.ExportedAt); err != nil {
		c.add(SecMeta, "exportedAt %q is not an RFC 3339 time", b.Meta.ExportedAt)
	}
}

func (c *checker) digests(b *Bundle) {
	want, err := b.digests()
	if err != nil {
		c.add(SecDigests, "cannot recompute: %v", err)
		return
	}
	for _, x := range []struct{ section, got, want string }{
		{SecMeta, b.Digests.Meta, want.Meta}, {SecCeremony, b.Digests.Ceremony, want.Ceremony},
		{SecSignatures, b.Digests.Signatures, want.Signatures}, {SecCustody, b.Digests.Custody, want.Custody},
		{SecOutcome, b.Digests.Outcome, want.Outcome},
	} {
		if x.got != x.want {
			c.add(x.section, "the section does not match digests.%s: the section or its digest was altered after export", x.section)
		}
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// vouch checks a session or token assurance: the web's vouch must verify for
// exactly this signature against the web key recorded with it.
func (c *checker) vouch(b *Bundle, s Signature, name string) bool {
	level, _, _ := strings.Cut(s.Assurance, " ")
	if level != string(contract.AssuranceSession) && level != string(contract.AssuranceToken) {
		return true
	}
	sig := contract.Signature{WitnessID: s.WitnessID, Decision: contract.Decision(s.Decision), Comment: s.Comment,
		IdempotencyKey: s.MessageKey, Vouch: s.Vouch}
	if err := statement.VerifyVouch(b.Ceremony.ID, sig, s.VouchPublicKey); err != nil || s.Vouch.Level != contract.Assurance(level) {
		c.add(SecSignatures, "%s: claims %s assurance, but the web app's vouch does not check out: %v", name, level, err)
		return false
	}
	return true
}

func orNotRecorded(a string) string {
	if a == "" {
		return "not recorded"
	}
	return a
}
