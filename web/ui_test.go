package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/activities"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// rowOf returns the list table row of a ceremony.
func rowOf(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr data-id="` + regexp.QuoteMeta(id) + `">.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no list row for %s", id)
	}
	return m
}

var countdownRE = regexp.MustCompile(`\bin (\d+[mhd]|under a minute)\b`)

// Once a ceremony no longer collects signatures, its unsigned witnesses are not
// shown as pending and its deadline has no countdown; while it collects, both are.
func TestClosedCeremonyHasNoPendingNorCountdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		ivy := h.client("ivy@example.org")
		form := h.template("one-of-two", func(t *rules.Template) { t.Quorum.Threshold = 1 }, "one-of-two")
		if resp := h.post(ivy, "/ceremonies/new", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("compose: %d", resp.StatusCode)
		}
		id := "web/one-of-two"
		open := openCeremony(t, h, "still-open")

		_, page := h.get(ivy, "/ceremonies/"+open)
		deadlineRE := regexp.MustCompile(`(?s)<dd id="deadline">.*?</dd>`)
		if !strings.Contains(page, `<ul id="pending">`) || !strings.Contains(page, "Still to sign") || !countdownRE.MatchString(deadlineRE.FindString(page)) {
			t.Errorf("a collecting ceremony should list who is still to sign and count down to its deadline")
		}

		// Bob's approval reaches the quorum of 1; carol never signed.
		if resp := h.signSession(h.client("bob@example.org"), id, "approve", ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign: %d", resp.StatusCode)
		}
		_, page = h.get(ivy, "/ceremonies/"+id)
		if !strings.Contains(page, "quorum reached") {
			t.Fatal("no quorum")
		}
		if strings.Contains(page, `id="pending"`) || strings.Contains(page, "Still to sign") {
			t.Error("a ceremony that reached quorum still lists pending witnesses")
		}
		if !strings.Contains(page, "Did not sign: Carol.") {
			t.Error("the detail page does not say who did not sign")
		}
		deadline := deadlineRE.FindString(page)
		if deadline == "" || countdownRE.MatchString(deadline) || strings.Contains(deadline, " ago") {
			t.Errorf("closed ceremony's deadline counts down: %q", deadline)
		}

		// The list: no pending count and no countdown for the closed one.
		_, list := h.get(ivy, "/ceremonies")
		row := rowOf(t, list, id)
		if strings.Contains(row, `class="num">1</td>`) || !strings.Contains(row, "no longer collecting signatures") {
			t.Errorf("closed row shows a pending count: %s", row)
		}
		if countdownRE.MatchString(row) {
			t.Errorf("closed row counts down to its deadline: %s", row)
		}
		openRow := rowOf(t, list, open)
		if !strings.Contains(openRow, `<td data-label="Still to sign" class="num">2</td>`) || !countdownRE.MatchString(openRow) {
			t.Errorf("open row lost its pending count or countdown: %s", openRow)
		}

		// Cancelled (final): the list says when it closed.
		now := time.Now().UTC()
		h.fake.mutate(id, func(s *contract.State) { s.Status, s.ClosedAt = contract.StatusCancelled, &now })
		if err := st.RecordStatus(context.Background(), id, store.StatusChange{Status: contract.StatusCancelled, Reason: "withdrawn", At: now, Seq: 9}); err != nil {
			t.Fatal(err)
		}
		_, list = h.get(ivy, "/ceremonies")
		if row := rowOf(t, list, id); !strings.Contains(row, "closed under a minute ago") || countdownRE.MatchString(row) {
			t.Errorf("cancelled row: %s", row)
		}
		_, page = h.get(ivy, "/ceremonies/"+id)
		if !strings.Contains(page, `id="closed-at"`) || strings.Contains(page, `id="pending"`) || !strings.Contains(page, "Did not sign: Carol.") {
			t.Error("cancelled detail page")
		}
	})
}

// The policy is one sentence in words, naming people by name; the per-role
// table appears only when a role has a minimum, with numbers and their headers
// aligned alike.
func TestPolicyInWordsAndRoleProgress(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	ivy := h.client("ivy@example.org")
	plain := openCeremony(t, h, "no-roles")
	_, page := h.get(ivy, "/ceremonies/"+plain)
	words := "Needs 2 approvals from Bob (release) and Carol (security); Ivy, who opened it, does not count."
	if !strings.Contains(htmlUnescape(page), words) {
		t.Errorf("policy sentence %q missing", words)
	}
	if strings.Contains(page, `id="policy"`) {
		t.Error("a role table without role minimums")
	}

	form := h.template("with-roles", func(t *rules.Template) {
		t.Quorum.Roles, t.Quorum.Veto = map[string]int{"security": 1, "release": 1}, []string{"security"}
	}, "with-roles")
	if resp := h.post(ivy, "/ceremonies/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose: %d %s", resp.StatusCode, readAll(t, resp))
	}
	id := "web/with-roles"
	if resp := h.signSession(h.client("bob@example.org"), id, "approve", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign: %d", resp.StatusCode)
	}
	_, page = h.get(ivy, "/ceremonies/"+id)
	if !strings.Contains(htmlUnescape(page), "at least 1 from release; at least 1 from security; a single reject from security ends the ceremony") {
		t.Error("policy sentence lacks the role minimums and veto")
	}
	table := regexp.MustCompile(`(?s)<table class="compact" id="policy">.*?</table>`).FindString(page)
	if table == "" {
		t.Fatal("no role table with role minimums")
	}
	if !strings.Contains(table, `<th class="num">Approved</th><th class="num">At least</th>`) {
		t.Errorf("number headers not aligned with their numbers: %s", table)
	}
	release := regexp.MustCompile(`(?s)<tr data-role="release">.*?</tr>`).FindString(table)
	security := regexp.MustCompile(`(?s)<tr data-role="security">.*?</tr>`).FindString(table)
	if !strings.Contains(release, "met") || !strings.Contains(security, "1 more needed") || strings.Contains(table, "—") {
		t.Errorf("role progress:\n%s\n%s", release, security)
	}
}

// After "Confirm and sign" the page opens with a confirmation of what was recorded.
func TestSignedNotice(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "notice")
	bob := h.client("bob@example.org")
	_, before := h.get(bob, "/ceremonies/"+id+"?signed=1")
	if strings.Contains(before, `id="signed-notice"`) {
		t.Fatal("a notice before anything was signed")
	}
	resp := h.signSession(bob, id, "reject", "not yet")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ceremonies/"+id+"?signed=1" {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := h.get(bob, resp.Header.Get("Location"))
	sig := mustState(t, h, id).Signatures[0]
	want := "Your signature (reject) was recorded at " + fmtTime(sig.SignedAt) + "."
	notice := regexp.MustCompile(`<p class="flash notice" role="status" id="signed-notice">([^<]*)</p>`).FindStringSubmatch(page)
	if notice == nil || notice[1] != want {
		t.Fatalf("notice = %v, want %q", notice, want)
	}
	if strings.Index(page, `id="signed-notice"`) > strings.Index(page, `id="live"`) {
		t.Error("the notice is not at the top of the page")
	}
	// Others opening the same address see no notice of their own.
	if _, other := h.get(h.client("carol@example.org"), "/ceremonies/"+id+"?signed=1"); strings.Contains(other, `id="signed-notice"`) {
		t.Error("carol sees a signature notice")
	}
}

// Every custody event type the system writes reads as plain words on the
// timeline, never as raw JSON; an amendment says what changed and what it voided.
func TestCustodyTimelineInWords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st)
		ctx := context.Background()
		id := openCeremony(t, h, "amend-me")
		if resp := h.signSession(h.client("bob@example.org"), id, "approve", "looks good"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign: %d", resp.StatusCode)
		}
		spec := mustState(t, h, id).Spec
		old := spec.Deadline
		spec.Deadline = old.Add(72 * time.Hour)
		spec.Generation = 2
		now := time.Now().UTC()
		change := "deadline moved from " + fmtTime(old) + " to " + fmtTime(spec.Deadline)
		if err := st.RecordAmended(ctx, store.Amendment{Spec: spec, Generation: 2, MessageKey: "spec-2", At: now,
			Changes: []string{change}, Voiding: store.Voiding{Epoch: 1, Voided: []store.VoidedSignature{{WitnessID: "bob@example.org", Epoch: 0}}, VoidReason: "the deadline changed"}, Tally: store.Tally{Pending: []string{"bob@example.org", "carol@example.org"}}, Status: contract.StatusCollecting}); err != nil {
			t.Fatal(err)
		}
		acts := &activities.Activities{Store: st}
		if err := acts.RecordRejected(ctx, activities.Rejected{CeremonyID: id, Seq: 1, Message: contract.RejectedMessage{
			Name: "sign", WitnessID: "alice@example.org", Reason: "alice@example.org is not a witness of this ceremony", At: now}}); err != nil {
			t.Fatal(err)
		}
		if err := acts.RecordAttested(ctx, activities.Attested{CeremonyID: id, Outcome: contract.StatusSealed, ChainHead: strings.Repeat("ab", 32),
			Result: contract.AttestationResult{Namespace: "web", Name: "amend-me-g2", Created: true}, At: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordNotification(ctx, store.NotificationRecord{Key: "n1", CeremonyID: id, Kind: "opened", Channel: "email",
			To: []string{"carol@example.org"}, Subject: "Please sign", Text: "…", At: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordNotification(ctx, store.NotificationRecord{Key: "n2", CeremonyID: id, Kind: "reminder",
			To: []string{"carol@example.org"}, Subject: "Reminder", At: now, Error: "mailbox full"}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordAttention(ctx, id, store.Attention{Reason: contract.AttentionSubstrateTimeout, At: now, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		_, carolKey, _ := ed25519.GenerateKey(rand.Reader)
		ch, err := st.NewKeyChallenge(ctx, "carol@example.org")
		if err != nil {
			t.Fatal(err)
		}
		carolCred, err := st.AddProvenKey(ctx, "carol@example.org", statement.ProvePossession(ch, carolKey), "yubikey", "carol@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.RemoveCredential(ctx, "carol@example.org", carolCred.KeyID, "carol@example.org"); err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"id":"evt-1","source":"ci","type":"build.finished"}`)
		sum := sha256.Sum256(body)
		if _, err := st.ProjectChronicle(ctx, store.ChronicleInput{ID: "evt-1", Type: "build.finished", Source: "ci", OccurredAt: now,
			Body: body, BodyHash: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}

		alice := h.client("alice@example.org")
		_, page := h.get(alice, "/ceremonies/"+id)
		page = htmlUnescape(page)
		for _, want := range []string{
			"Opened: needs 2 approvals from 2 witnesses by " + fmtTime(old),
			"Signed approve in a web login (dev-login) the web app vouched for (assurance: session) — “looks good”",
			"Amended to generation 2: " + change + "; 1 signature voided",
			"1 signature voided (Bob): the deadline changed",
			"Refused a sign message from Alice: alice@example.org is not a witness of this ceremony",
			"Attestation written: outcome sealed, CeremonyAttestation web/amend-me-g2, citing chain head abababababababab…",
			"Notified Carol by e-mail: “Please sign”",
			"Notification could not be delivered to Carol (“Reminder”): mailbox full",
			"Needs an operator: the cluster did not decide in time",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("ceremony timeline lacks %q", want)
			}
		}
		_, all := h.get(alice, "/chronicle?all=1")
		all = htmlUnescape(all)
		for _, want := range []string{
			"Start of the chain of custody",
			"Ed25519 key “yubikey” registered for Carol, who proved holding it" + keyIDSuffix(carolCred.KeyID),
			"Ed25519 key removed from Carol",
			"Chronicle event build.finished from ci",
			"Artifact proposed",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("custody timeline lacks %q", want)
			}
		}
		timelineHTML := regexp.MustCompile(`(?s)<ol class="timeline" id="chronicle">.*?</ol>`).FindString(all)
		if timelineHTML == "" || strings.Contains(timelineHTML, `{"`) {
			t.Errorf("raw JSON on the custody timeline:\n%s", timelineHTML)
		}
	})
}

// Each event type has its own sentence (the fallback to raw data is only for
// types this build does not know).
func TestEveryCustodyTypeHasWords(t *testing.T) {
	for _, typ := range []string{custody.TypeGenesis, custody.TypeCeremonyOpened, custody.TypeSignatureAccepted,
		custody.TypeMessageRejected, custody.TypeStatusChanged, custody.TypeCeremonyAmended, custody.TypeSignaturesVoided,
		custody.TypeArtifactState, custody.TypeNotification, custody.TypeChronicle, custody.TypeKeyRegistered,
		custody.TypeKeyRemoved, custody.TypeAttestation, custody.TypeNotificationFailed, custody.TypeAttention,
		custody.TypeWitnessAdded, custody.TypeWitnessChanged, custody.TypeWitnessDeactivated, custody.TypeWitnessReactivated,
		custody.TypeWitnessSynced, custody.TypeTemplateApplied, custody.TypeWebKeyRegistered, custody.TypeWebKeyRetired,
		custody.TypeIntuneRequested, custody.TypeIntuneApplied, custody.TypeIntuneFailed, custody.TypeIntuneSkipped, custody.TypeIntuneDrift} {
		e := store.CustodyEvent{Type: typ, Body: `{"data":{"unexpected":"x"},"type":"` + typ + `"}`}
		if s := summarize(e, nil); s == "" || strings.Contains(s, "{") || strings.Contains(s, "unexpected") {
			t.Errorf("%s: summary %q", typ, s)
		}
	}
	if s := summarize(store.CustodyEvent{Type: "future.event", Body: `{"data":{"a":1}}`}, nil); s != `{"a":1}` {
		t.Errorf("unknown type: %q", s)
	}
}

// The forms' limits are the rules the server checks, so a browser never cuts
// text the server would take.
func TestFormLimitsAreTheRules(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	id := openCeremony(t, h, "limits")
	ivy, bob := h.client("ivy@example.org"), h.client("bob@example.org")
	_, detailBob := h.get(bob, "/ceremonies/"+id)
	_, detailIvy := h.get(ivy, "/ceremonies/"+id)
	_, composer := h.get(ivy, "/ceremonies/new?template=release")
	_, account := h.get(ivy, "/account")
	for _, c := range []struct {
		page, id string
		max      int
	}{
		{detailBob, "comment", rules.MaxComment},
		{detailIvy, "withdraw-reason", rules.MaxWithdrawReason},
		{composer, "title", rules.MaxTitle},
		{composer, "name", rules.MaxName},
		{account, "token_label", rules.MaxLabel},
		{account, "passkey-label", rules.MaxLabel},
	} {
		tag := regexp.MustCompile(`<(input|textarea)[^>]* id="` + c.id + `"[^>]*>`).FindString(c.page)
		if want := fmt.Sprintf(`maxlength="%d"`, c.max); !strings.Contains(tag, want) {
			t.Errorf("%s: %q, want %s", c.id, tag, want)
		}
	}
}
