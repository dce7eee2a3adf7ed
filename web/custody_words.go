package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/store"
)

// timeline makes custody events readable. An amendment that voided signatures
// is two events (ceremony.amended, then signatures.voided); the amendment's line
// says so too, so it reads as one change.
func timeline(events []store.CustodyEvent, p people) []timelineEntry {
	voided := map[string]int{} // ceremony + generation -> signatures voided
	for _, e := range events {
		if e.Type != custody.TypeSignaturesVoided || e.CeremonyID == nil {
			continue
		}
		var d struct {
			Generation int64             `json:"generation"`
			Signatures []json.RawMessage `json:"signatures"`
		}
		if eventData(e, &d) {
			voided[fmt.Sprintf("%s#%d", *e.CeremonyID, d.Generation)] = len(d.Signatures)
		}
	}
	out := make([]timelineEntry, 0, len(events))
	for _, e := range events {
		s := summarize(e, p)
		if e.Type == custody.TypeCeremonyAmended && e.CeremonyID != nil {
			var d struct {
				Generation int64 `json:"generation"`
			}
			if eventData(e, &d) {
				if n := voided[fmt.Sprintf("%s#%d", *e.CeremonyID, d.Generation)]; n > 0 {
					s += "; " + plural(n, "signature", "signatures") + " voided"
				}
			}
		}
		actor := p.name(e.Actor)
		if e.Type == custody.TypeNotification || e.Type == custody.TypeNotificationFailed {
			actor = "" // the channel, which the summary names
		}
		out = append(out, timelineEntry{E: e, Label: eventLabel(e.Type), Actor: actor, Unvouched: unvouchedEvent(e), Summary: capitalize(s)})
	}
	return out
}

// unvouchedEvent reports whether e records operator assurance (a signature or
// cancel the web app did not vouch for): its actor is a name nobody proved.
func unvouchedEvent(e store.CustodyEvent) bool {
	var d struct {
		Assurance string `json:"assurance"`
	}
	if !eventData(e, &d) {
		return false
	}
	level, _ := recordedAssurance(d.Assurance)
	return level == contract.AssuranceOperator
}

// eventData decodes the data member of a stored custody event into v.
func eventData(e store.CustodyEvent, v any) bool {
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(e.Body), &body); err != nil || len(body.Data) == 0 {
		return false
	}
	return json.Unmarshal(body.Data, v) == nil
}

// summarize says in plain words what a custody event recorded. Every event type
// the system writes has its own sentence; only an unknown type falls back to
// its data, shortened.
func summarize(e store.CustodyEvent, p people) string {
	var d map[string]json.RawMessage
	eventData(e, &d)
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(d[k], &s)
		return s
	}
	num := func(k string) int64 {
		var n int64
		_ = json.Unmarshal(d[k], &n)
		return n
	}
	strs := func(k string) []string {
		var s []string
		_ = json.Unmarshal(d[k], &s)
		return s
	}
	if s, ok := directorySummary(e.Type, str, strs); ok {
		return s
	}
	if s, ok := intuneSummary(e.Type, d, str); ok {
		return s
	}
	switch e.Type {
	case custody.TypeGenesis:
		return "start of the chain of custody"
	case custody.TypeCeremonyOpened:
		var spec contract.Spec
		if json.Unmarshal(d["spec"], &spec) != nil || spec.ID == "" {
			return "ceremony opened"
		}
		s := fmt.Sprintf("opened: needs %s from %s", plural(spec.Quorum.Threshold, "approval", "approvals"),
			plural(len(rules.Members(spec)), "witness", "witnesses"))
		if !spec.Deadline.IsZero() {
			s += " by " + fmtTime(spec.Deadline)
		}
		return s
	case custody.TypeSignatureAccepted:
		var proof *contract.Proof
		_ = json.Unmarshal(d["proof"], &proof)
		s := "signed " + str("decision") + " " + signedHow(str("assurance"), proof)
		if c := str("comment"); c != "" {
			s += " — " + quoteShort(c)
		}
		return s
	case custody.TypeMessageRejected:
		var m contract.RejectedMessage
		eventData(e, &m)
		s := "refused a " + strings.TrimSpace(m.Name+" message")
		if m.WitnessID != "" {
			s += " from " + p.name(m.WitnessID)
		}
		if m.Reason != "" {
			s += ": " + m.Reason
		}
		return s
	case custody.TypeStatusChanged:
		s := "status " + statusLabel(str("status"))
		if r := str("reason"); r != "" {
			s += ": " + r
		}
		if level, method := recordedAssurance(str("assurance")); level != "" {
			s += " — " + cancelledBy(p.name(e.Actor), level, method)
		}
		return s
	case custody.TypeCeremonyAmended:
		s := fmt.Sprintf("amended to generation %d", num("generation"))
		if ch := strs("changes"); len(ch) > 0 {
			s += ": " + strings.Join(ch, "; ")
		} else {
			s += " (nothing witnesses sign changed)"
		}
		return s
	case custody.TypeSignaturesVoided:
		var d2 struct {
			Signatures []store.VoidedSignature `json:"signatures"`
			Reason     string                  `json:"reason"`
		}
		eventData(e, &d2)
		who := make([]string, 0, len(d2.Signatures))
		for _, v := range d2.Signatures {
			who = append(who, p.name(v.WitnessID))
		}
		s := plural(len(d2.Signatures), "signature", "signatures") + " voided"
		if len(who) > 0 {
			s += " (" + strings.Join(who, ", ") + ")"
		}
		if d2.Reason != "" {
			s += ": " + d2.Reason
		}
		return s
	case custody.TypeArtifactState:
		s := "artifact " + str("to")
		if from := str("from"); from != "" {
			s = "artifact " + from + " → " + str("to")
		}
		if r := str("reason"); r != "" {
			s += ": " + r
		}
		return s
	case custody.TypeNotification:
		s := "notified"
		if to := strs("to"); len(to) > 0 {
			s += " " + strings.Join(p.names(to), ", ")
		}
		s += channelWords(str("channel"))
		if subj := str("subject"); subj != "" {
			s += ": " + quoteShort(subj)
		}
		return s
	case custody.TypeNotificationFailed:
		s := "notification could not be delivered"
		if to := strs("to"); len(to) > 0 {
			s += " to " + strings.Join(p.names(to), ", ")
		}
		if subj := str("subject"); subj != "" {
			s += " (" + quoteShort(subj) + ")"
		}
		if er := str("error"); er != "" {
			s += ": " + er
		}
		return s
	case custody.TypeChronicle:
		s := "Chronicle event"
		if t := str("type"); t != "" {
			s += " " + t
		}
		if src := str("source"); src != "" {
			s += " from " + src
		}
		return s
	case custody.TypeKeyRegistered:
		s := keyKind(str("type")) + " registered"
		if l := str("label"); l != "" {
			s = keyKind(str("type")) + " " + quoteShort(l) + " registered"
		}
		if w := str("witnessId"); w != "" {
			s += " for " + p.name(w)
		}
		if _, proven := d["possession"]; proven {
			s += ", who proved holding it"
		}
		return s + keyIDSuffix(str("keyId"))
	case custody.TypeKeyRemoved:
		s := keyKind(str("type")) + " removed"
		if w := str("witnessId"); w != "" {
			s += " from " + p.name(w)
		}
		return s + "; signatures made with it stay verifiable" + keyIDSuffix(str("keyId"))
	case custody.TypeAttestation:
		s := "attestation written: outcome " + statusLabel(str("outcome"))
		if res := str("resource"); res != "" && res != "/" {
			s += ", CeremonyAttestation " + res
		}
		if h := str("chainHead"); h != "" {
			s += ", citing chain head " + shortHash(h)
		}
		return s
	case custody.TypeAttention:
		s := "needs an operator"
		switch r := str("reason"); r {
		case contract.AttentionSubstrateTimeout:
			s += ": the cluster did not decide in time"
		case "":
		default:
			s += ": " + r
		}
		if dt := str("detail"); dt != "" {
			s += " (" + dt + ")"
		}
		return s
	}
	if len(d) == 0 {
		return ""
	}
	b, _ := json.Marshal(d)
	if len(b) > 160 {
		return string(b[:160]) + "…"
	}
	return string(b)
}

// capitalize starts a summary like a sentence.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// quoteShort quotes free text, cut to a length that fits a timeline line.
func quoteShort(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "…"
	}
	return "“" + s + "”"
}

// channelWords says how a notification went out.
func channelWords(c string) string {
	switch c {
	case "":
		return ""
	case "smtp", "email":
		return " by e-mail"
	case "log":
		return " in the development log (nothing was sent)"
	}
	return " by " + c
}

// eventLabel is the kind of a custody event in one word, for a tag; the
// summary says what happened and the type itself stays on the page for
// operators (a tooltip).
func eventLabel(t string) string {
	switch t {
	case custody.TypeGenesis:
		return "chain"
	case custody.TypeCeremonyOpened, custody.TypeStatusChanged, custody.TypeCeremonyAmended:
		return "ceremony"
	case custody.TypeSignatureAccepted, custody.TypeSignaturesVoided:
		return "signature"
	case custody.TypeMessageRejected:
		return "refused"
	case custody.TypeArtifactState:
		return "artifact"
	case custody.TypeNotification, custody.TypeNotificationFailed:
		return "notification"
	case custody.TypeChronicle:
		return "chronicle"
	case custody.TypeKeyRegistered, custody.TypeKeyRemoved:
		return "key"
	case custody.TypeAttestation:
		return "cluster"
	case custody.TypeAttention:
		return "attention"
	case custody.TypeIntuneRequested, custody.TypeIntuneApplied, custody.TypeIntuneFailed, custody.TypeIntuneSkipped, custody.TypeIntuneDrift:
		return "intune"
	}
	return "other"
}

// keyKind names a credential type for people.
func keyKind(t string) string {
	switch t {
	case "webauthn":
		return "passkey"
	case "":
		return "key"
	}
	return t + " key"
}

func keyIDSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (key id " + shortHash(id) + ")"
}
