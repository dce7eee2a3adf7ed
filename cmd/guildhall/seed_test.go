package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

// TestREADMESpecIsTheSeededDemo keeps the README's example spec true: it is the
// demo ceremony `make run` seeds, except for the deadline (a week after seeding).
func TestREADMESpecIsTheSeededDemo(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "Spec (the start argument)")
	if !ok {
		t.Fatal("README has no \"Spec (the start argument)\" section")
	}
	_, block, _ := strings.Cut(after, "```json\n")
	block, _, _ = strings.Cut(block, "```")
	var fromDoc contract.Spec
	dec := json.NewDecoder(strings.NewReader(block))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fromDoc); err != nil {
		t.Fatalf("README spec does not decode strictly: %v", err)
	}
	seeded := demoSpec(time.Now())
	fromDoc.Deadline, seeded.Deadline = time.Time{}, time.Time{}
	if !reflect.DeepEqual(fromDoc, seeded) {
		t.Fatalf("README spec differs from the seeded demo:\nREADME: %+v\nseed:   %+v", fromDoc, seeded)
	}
}
