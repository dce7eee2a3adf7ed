// Package crd names the substrate's Ceremony and CeremonyAttestation resources and
// converts a Ceremony into the workflow contract's Spec. The watcher and the
// attestation writer share it; it has no Temporal dependency.
package crd

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/guildhouse/guildhall/contract"
)

// Group and Version of the substrate CRDs.
const (
	Group   = "substrate.guildhouse.dev"
	Version = "v1alpha1"
)

// Resources, kinds and GVRs.
var (
	CeremonyGVR    = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "ceremonies"}
	AttestationGVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "ceremonyattestations"}
	CeremonyGVK    = schema.GroupVersionKind{Group: Group, Version: Version, Kind: "Ceremony"}
	AttestationGVK = schema.GroupVersionKind{Group: Group, Version: Version, Kind: "CeremonyAttestation"}
)

// Source is the contract.Spec.Source of ceremonies opened from the cluster.
const Source = "cluster"

// CeremonySpec mirrors the Ceremony's spec as the CRD declares it. Deadline stays a
// string so an unparsable one becomes a validation problem, not a decode failure.
type CeremonySpec struct {
	Kind        string                `json:"kind"`
	Artifact    contract.Artifact     `json:"artifact"`
	Initiator   string                `json:"initiator"`
	Witnesses   []contract.WitnessRef `json:"witnesses,omitempty"`
	Quorum      contract.Quorum       `json:"quorum,omitzero"`
	Deadline    string                `json:"deadline"`
	Description string                `json:"description,omitempty"`
	// Template, instead of witnesses and a quorum, names the approval template
	// the workflow completes the spec from when it opens.
	Template *contract.TemplateRef `json:"template,omitempty"`
	// Intune is where a sealed release goes in Intune (the Graph bridge).
	Intune *contract.IntuneTarget `json:"intune,omitempty"`
}

// CeremonyID is Guildhall's id for a Ceremony: "<namespace>/<name>", which is also
// the informer's cache key.
func CeremonyID(namespace, name string) string { return namespace + "/" + name }

// DecodeSpec reads obj's spec. It fails only when the spec has the wrong shape (a
// field of the wrong type, say), which a schema-checked resource never has.
func DecodeSpec(obj *unstructured.Unstructured) (CeremonySpec, error) {
	var s CeremonySpec
	raw, ok := obj.Object["spec"]
	if !ok {
		return s, fmt.Errorf("no spec")
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return s, fmt.Errorf("encode spec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("spec has the wrong shape: %w", err)
	}
	return s, nil
}

// ContractSpec builds the workflow's start argument from a Ceremony. A deadline
// that does not parse is left zero; Validate reports it. The title comes from the
// AnnotationTitle annotation (the CRD's spec has none).
func ContractSpec(obj *unstructured.Unstructured, s CeremonySpec) contract.Spec {
	deadline, _ := time.Parse(time.RFC3339, s.Deadline)
	return contract.Spec{
		ID:          CeremonyID(obj.GetNamespace(), obj.GetName()),
		Kind:        s.Kind,
		Title:       title(obj),
		Description: s.Description,
		Artifact:    s.Artifact,
		Initiator:   s.Initiator,
		Witnesses:   s.Witnesses,
		Quorum:      s.Quorum,
		Deadline:    deadline.UTC(),
		Template:    s.Template,
		Generation:  obj.GetGeneration(),
		Source:      Source,
		Intune:      s.Intune,
	}
}

// Status is the part of a Ceremony's status the watcher reads.
type Status struct {
	Phase              string
	ObservedGeneration int64
	// Reason is the reason and message of the most recently changed condition,
	// which is where a substrate explains its phase.
	Reason string
}

// ReadStatus extracts the status fields; missing fields read as zero.
func ReadStatus(obj *unstructured.Unstructured) Status {
	var st Status
	st.Phase, _, _ = unstructured.NestedString(obj.Object, "status", "phase")
	st.ObservedGeneration, _, _ = unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	var latest string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		at, _ := m["lastTransitionTime"].(string)
		if at < latest {
			continue
		}
		latest = at
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		st.Reason = joinNonEmpty(reason, msg)
	}
	return st
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}
