package crd

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestContractSpec(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"kind": "key-rotation", "initiator": "dora", "deadline": "2030-01-02T03:04:05+02:00", "description": "d",
		"artifact":  map[string]any{"name": "k", "digest": "sha256:00"},
		"witnesses": []any{map[string]any{"id": "a", "role": "r"}},
		"quorum":    map[string]any{"threshold": int64(1), "roles": map[string]any{"r": int64(1)}, "veto": []any{"r"}},
	}}}
	u.SetNamespace("ns")
	u.SetName("n")
	u.SetGeneration(7)
	raw, err := DecodeSpec(u)
	if err != nil {
		t.Fatal(err)
	}
	s := ContractSpec(u, raw)
	if s.ID != "ns/n" || s.Generation != 7 || s.Source != "cluster" || s.Kind != "key-rotation" ||
		!s.Deadline.Equal(time.Date(2030, 1, 2, 1, 4, 5, 0, time.UTC)) || s.Deadline.Location() != time.UTC ||
		s.Quorum.Roles["r"] != 1 || s.Quorum.Veto[0] != "r" || s.Witnesses[0].Role != "r" {
		t.Fatalf("spec = %+v", s)
	}
	u.Object["spec"].(map[string]any)["witnesses"] = "everyone"
	if _, err := DecodeSpec(u); err == nil {
		t.Fatal("a spec of the wrong shape decoded")
	}
}

func TestReadStatus(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"phase": "Aborted", "observedGeneration": int64(3),
		"conditions": []any{
			map[string]any{"type": "Ready", "reason": "Old", "lastTransitionTime": "2030-01-01T00:00:00Z"},
			map[string]any{"type": "Aborted", "reason": "Vetoed", "message": "security said no", "lastTransitionTime": "2030-01-02T00:00:00Z"},
		},
	}}}
	st := ReadStatus(u)
	if st.Phase != "Aborted" || st.ObservedGeneration != 3 || st.Reason != "Vetoed: security said no" {
		t.Fatalf("status = %+v", st)
	}
	if st := ReadStatus(&unstructured.Unstructured{Object: map[string]any{}}); st != (Status{}) {
		t.Fatalf("empty status = %+v", st)
	}
}
