package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/statement"
)

// derived is what the custody segment says about a ceremony. Export builds the
// bundle from it and Verify compares the bundle with it, so both read the chain
// the same way.
type derived struct {
	ceremonySeqs []int64
	specs        []specAt // every spec the ceremony had, oldest first
	openedAt     string
	signatures   []Signature
	keysOnChain  map[int64]*statement.PublicKey // signature seq → key recorded with it
	outcome      Outcome
	graph        []GraphAction
}

// GraphAction is one of the Graph bridge's custody events of the ceremony:
// carrying its Intune decision out (or trying to), and drift found.
type GraphAction struct {
	Seq        int64
	Type       string // intune.requested, intune.applied, intune.failed, intune.skipped, intune.drift
	OccurredAt string
	Decision   string // released or revoked
	Changes    int    // what the Graph calls changed (drift: what differs)
	Calls      int    // HTTP exchanges recorded with it
	Error      string
}

type specAt struct {
	seq  int64
	raw  json.RawMessage
	spec contract.Spec
}

// current is the spec in force at seq (the latest opened/amended before it).
func (d *derived) current(seq int64) (specAt, bool) {
	var out specAt
	found := false
	for _, s := range d.specs {
		if s.seq < seq {
			out, found = s, true
		}
	}
	return out, found
}

// voiding is a signatures.voided link: which signatures an amendment voided.
type voiding struct {
	seq  int64
	sigs []voidedSig
}

type voidedSig struct {
	WitnessID string `json:"witnessId"`
	Epoch     int    `json:"epoch"`
}

type signatureData struct {
	Epoch     int             `json:"epoch"`
	Decision  string          `json:"decision"`
	Comment   string          `json:"comment"`
	Statement string          `json:"statement"`
	Proof     *contract.Proof `json:"proof"`
	Via       string          `json:"via"`
	KeyID     string          `json:"keyId"`
	PublicKey string          `json:"publicKey"`
	// Recorded since assurance was (none of these in older links).
	Assurance      string          `json:"assurance"`
	HeldRoles      []string        `json:"heldRoles"`
	Vouch          *contract.Vouch `json:"vouch"`
	VouchPublicKey string          `json:"vouchPublicKey"`
	MessageKey     string          `json:"messageKey"`
}

// deriveFrom reads the ceremony's events out of links (already verified as a
// chain). Problems are about the chain's content, not the bundle's claims.
func deriveFrom(ceremonyID string, links []Link) (*derived, error) {
	d := &derived{ceremonySeqs: []int64{}, signatures: []Signature{}, keysOnChain: map[int64]*statement.PublicKey{},
		outcome: Outcome{Status: string(contract.StatusCollecting)}}
	var voids []voiding
	for _, l := range links {
		e, err := custody.Decode(l.Event)
		if err != nil {
			return nil, fmt.Errorf("link %d: %w", l.Seq, err)
		}
		if e.CeremonyID != ceremonyID {
			continue
		}
		d.ceremonySeqs = append(d.ceremonySeqs, l.Seq)
		bad := func(err error) error { return fmt.Errorf("link %d (%s) has unreadable data: %w", l.Seq, e.Type, err) }
		switch e.Type {
		case custody.TypeCeremonyOpened, custody.TypeCeremonyAmended:
			var data struct {
				Spec json.RawMessage `json:"spec"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil || len(data.Spec) == 0 {
				return nil, bad(fmt.Errorf("no spec: %v", err))
			}
			var sp contract.Spec
			if err := json.Unmarshal(data.Spec, &sp); err != nil {
				return nil, bad(err)
			}
			d.specs = append(d.specs, specAt{seq: l.Seq, raw: data.Spec, spec: sp})
			if e.Type == custody.TypeCeremonyOpened && d.openedAt == "" {
				d.openedAt = e.OccurredAt
			}
		case custody.TypeSignatureAccepted:
			var data signatureData
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return nil, bad(err)
			}
			sig := Signature{CustodySeq: l.Seq, WitnessID: e.Actor, Decision: data.Decision, Comment: data.Comment,
				Epoch: data.Epoch, SignedAt: e.OccurredAt, Via: data.Via, Statement: data.Statement, Proof: data.Proof,
				Assurance: data.Assurance, HeldRoles: data.HeldRoles, Vouch: data.Vouch, VouchPublicKey: data.VouchPublicKey}
			if len(sig.HeldRoles) == 0 {
				sig.HeldRoles = nil
			}
			if data.Vouch != nil {
				sig.MessageKey = data.MessageKey
			}
			if data.Statement != "" {
				if st, err := statement.Parse([]byte(data.Statement)); err == nil {
					sig.Words = st.ToWords("")
				}
			}
			d.signatures = append(d.signatures, sig)
			if data.PublicKey != "" && data.Proof != nil {
				d.keysOnChain[l.Seq] = &statement.PublicKey{WitnessID: e.Actor, Type: data.Proof.Type, KeyID: data.KeyID, PublicKey: data.PublicKey}
			}
		case custody.TypeSignaturesVoided:
			v := voiding{seq: l.Seq}
			var data struct {
				Signatures json.RawMessage `json:"signatures"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return nil, bad(err)
			}
			if len(data.Signatures) > 0 && string(data.Signatures) != "null" {
				if err := json.Unmarshal(data.Signatures, &v.sigs); err != nil {
					return nil, bad(err)
				}
			}
			voids = append(voids, v)
		case custody.TypeIntuneRequested, custody.TypeIntuneApplied, custody.TypeIntuneFailed, custody.TypeIntuneSkipped, custody.TypeIntuneDrift:
			var data struct {
				Decision string            `json:"decision"`
				Changes  []json.RawMessage `json:"changes"`
				Drift    []json.RawMessage `json:"drift"`
				Calls    []json.RawMessage `json:"calls"`
				Error    string            `json:"error"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return nil, bad(err)
			}
			n := len(data.Changes)
			if e.Type == custody.TypeIntuneDrift {
				n = len(data.Drift)
			}
			d.graph = append(d.graph, GraphAction{Seq: l.Seq, Type: e.Type, OccurredAt: e.OccurredAt, Decision: data.Decision,
				Changes: n, Calls: len(data.Calls), Error: data.Error})
		case custody.TypeStatusChanged:
			var data struct {
				Status string `json:"status"`
				Reason string `json:"reason"`
				// Recorded for cancels since their assurance was.
				Assurance      string          `json:"assurance"`
				Vouch          *contract.Vouch `json:"vouch"`
				VouchPublicKey string          `json:"vouchPublicKey"`
				MessageKey     string          `json:"messageKey"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return nil, bad(err)
			}
			d.outcome.Status, d.outcome.Reason, d.outcome.DecidedSeq = data.Status, data.Reason, l.Seq
			d.outcome.ClosedBy, d.outcome.CloseAssurance, d.outcome.CloseVouch, d.outcome.CloseVouchPublicKey, d.outcome.CloseMessageKey =
				"", "", nil, "", ""
			if data.Assurance != "" {
				d.outcome.ClosedBy, d.outcome.CloseAssurance, d.outcome.CloseMessageKey = e.Actor, data.Assurance, data.MessageKey
				d.outcome.CloseVouch, d.outcome.CloseVouchPublicKey = data.Vouch, data.VouchPublicKey
			}
			d.outcome.ClosedAt = ""
			if contract.Status(data.Status).Final() {
				d.outcome.ClosedAt = e.OccurredAt
			}
		}
	}
	for i := range d.signatures {
		s := &d.signatures[i]
		for _, v := range voids {
			if v.seq > s.CustodySeq && slices.ContainsFunc(v.sigs, func(x voidedSig) bool {
				return x.WitnessID == s.WitnessID && x.Epoch == s.Epoch
			}) {
				s.Voided = true
			}
		}
		if !s.Voided {
			switch contract.Decision(s.Decision) {
			case contract.Approve:
				d.outcome.Approvals++
			case contract.Reject:
				d.outcome.Rejections++
			}
		}
	}
	d.outcome.OpenedAt = d.openedAt
	return d, nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
