package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/custody"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

func amendSpec(id string, at time.Time) contract.Spec {
	return contract.Spec{
		ID: id, Kind: contract.KindRelease,
		Artifact:  contract.Artifact{Name: "app", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Initiator: "ivy",
		Witnesses: []contract.WitnessRef{{ID: "alice", Role: "security"}, {ID: "bob", Role: "release"}},
		Quorum:    contract.Quorum{Threshold: 2}, Deadline: at.Add(48 * time.Hour),
	}
}

func TestRecordAmendedVoidsAndIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		sp := amendSpec("default/amend-1", at)
		if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "ceremony/default/amend-1", OpenedAt: at, Pending: []string{"alice", "bob"}}); err != nil {
			t.Fatal(err)
		}
		for i, w := range []string{"alice", "bob"} {
			if err := s.RecordSignature(ctx, sp.ID,
				contract.Signature{WitnessID: w, Decision: contract.Approve, SignedAt: at.Add(time.Minute), IdempotencyKey: w}, store.Tally{Approvals: i + 1}); err != nil {
				t.Fatal(err)
			}
		}
		next := sp
		next.Artifact.Digest = "sha256:" + strings.Repeat("cd", 32)
		next.Witnesses = append(next.Witnesses, contract.WitnessRef{ID: "carol"})
		next.Deadline = sp.Deadline.Add(time.Hour)
		am := store.Amendment{Spec: next, Generation: 2, MessageKey: "s2", At: at.Add(2 * time.Minute),
			Changes: []string{"artifact digest changed"}, Voiding: store.Voiding{Epoch: 1, VoidReason: "digest changed",
				Voided: []store.VoidedSignature{{WitnessID: "alice", Epoch: 0}, {WitnessID: "bob", Epoch: 0}}},
			Tally: store.Tally{Pending: []string{"alice", "bob", "carol"}}, Status: contract.StatusCollecting}
		for range 2 {
			if err := s.RecordAmended(ctx, am); err != nil {
				t.Fatal(err)
			}
		}
		row, err := s.GetCeremony(ctx, sp.ID)
		if err != nil || row.Epoch != 1 || row.ArtifactDigest != next.Artifact.Digest || len(row.WitnessIDs) != 3 ||
			len(row.PendingIDs) != 3 || row.Approvals != 0 || !row.Deadline.Equal(next.Deadline) {
			t.Fatalf("ceremony row %+v %v", row, err)
		}
		sigs, _ := s.Signatures(ctx, sp.ID)
		for _, sg := range sigs {
			if sg.VoidedAt == nil || !sg.VoidedAt.Equal(am.At) {
				t.Fatalf("signature %s not voided: %+v", sg.WitnessID, sg)
			}
		}
		// A new signature in the new epoch does not collide with the voided one.
		if err := s.RecordSignature(ctx, sp.ID,
			contract.Signature{WitnessID: "alice", Decision: contract.Approve, SignedAt: at.Add(3 * time.Minute), IdempotencyKey: "a2", Epoch: 1}, store.Tally{Approvals: 1}); err != nil {
			t.Fatal(err)
		}
		if sigs, _ = s.Signatures(ctx, sp.ID); len(sigs) != 3 || sigs[2].VoidedAt != nil {
			t.Fatalf("signatures after re-sign: %+v", sigs)
		}
		if _, err := s.GetArtifact(ctx, next.Artifact.Digest); err != nil {
			t.Fatalf("new artifact not recorded: %v", err)
		}
		types := map[string]int{}
		events, _ := s.CeremonyCustody(ctx, sp.ID)
		for _, e := range events {
			types[e.Type]++
		}
		if types[custody.TypeCeremonyAmended] != 1 || types[custody.TypeSignaturesVoided] != 1 {
			t.Fatalf("custody %v", types)
		}
		if err := s.RecordAttention(ctx, sp.ID, store.Attention{Reason: contract.AttentionSubstrateTimeout, At: at, Seq: 1}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNotificationRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		sp := amendSpec("default/notify-1", at)
		if err := s.RecordOpened(ctx, store.Opened{Spec: sp, WorkflowID: "ceremony/default/notify-1", OpenedAt: at}); err != nil {
			t.Fatal(err)
		}
		key := "notify/default/notify-1/1/opened"
		if done, err := s.Delivered(ctx, key, "smtp"); err != nil || done {
			t.Fatalf("delivered before sending: %v %v", done, err)
		}
		r := store.NotificationRecord{Key: key, CeremonyID: sp.ID, Kind: "opened", Channel: "smtp", To: []string{"alice"}, Subject: "s", Text: "t", At: at}
		for range 2 {
			if err := s.RecordNotification(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if done, _ := s.Delivered(ctx, key, "smtp"); !done {
			t.Fatal("delivery not found")
		}
		r.Error, r.Key = "relay down", "notify/default/notify-1/2/reminder"
		if err := s.RecordNotification(ctx, r); err != nil {
			t.Fatal(err)
		}
		n, err := s.Notifications(ctx, sp.ID)
		if err != nil || len(n) != 2 || n[0].Type != custody.TypeNotification || n[1].Type != custody.TypeNotificationFailed {
			t.Fatalf("notifications %+v %v", n, err)
		}
	})
}
