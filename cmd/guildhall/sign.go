package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
	"github.com/guildhouse/guildhall/statement"
)

func newSignCmd() *cobra.Command {
	var (
		keyFile, decision, comment, stateFile, witness, at, key string
		send                                                    bool
	)
	cmd := &cobra.Command{
		Use:   "sign <ceremony-id> --key FILE --decision approve|reject",
		Short: "Sign a decision with an ed25519 key file and print the sign / witness-signature payload",
		Long: `sign builds the canonical statement for your decision on the ceremony as it
stands, shows it in words on stderr, signs it with your key file and prints the
JSON payload of the ` + "`sign`" + ` update and ` + "`witness-signature`" + ` signal on stdout:

  temporal workflow update execute --workflow-id ceremony/<id> --name sign --input "$(guildhall sign <id> --key k.json --decision approve)"

The ceremony's state comes from Temporal's status query (TEMPORAL_ADDRESS), or, for
offline witnesses, from --state: a file holding the status query's answer or the
ceremony's spec (- for stdin). --send sends the update itself and waits for the answer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			d, err := rules.ParseDecision(decision)
			if err != nil {
				return fmt.Errorf("--decision %w", err)
			}
			if p := rules.CommentProblem(comment); p != "" {
				return fmt.Errorf("--comment: %s", p)
			}
			if keyFile == "" {
				return errors.New("--key is required: the key file `guildhall keygen` wrote")
			}
			kf, priv, err := readKeyFile(keyFile, witness)
			if err != nil {
				return err
			}
			if kf.WitnessID == "" {
				return errors.New("the key file does not name its witness: give --witness")
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at must be an RFC 3339 time: %w", err)
				}
			}
			var cc *ceremonyclient.Client
			var st contract.State
			if stateFile != "" {
				data, err := readInput(cmd, stateFile)
				if err != nil {
					return err
				}
				if st, err = parseState(data); err != nil {
					return fmt.Errorf("%s: %w", stateFile, err)
				}
			} else {
				c, err := dialTool(cmd.Context(), "guildhall-sign")
				if err != nil {
					return fmt.Errorf("%w (or give the ceremony's state or spec with --state for offline signing)", err)
				}
				defer c.Close()
				cc = ceremonyclient.New(c)
				if st, err = cc.Status(cmd.Context(), id); err != nil {
					return err
				}
			}
			if st.Spec.ID != id {
				return fmt.Errorf("the state is for ceremony %q, not %q", st.Spec.ID, id)
			}
			// The workflow's rules, before anything is signed. A state file may
			// be older than the ceremony, or a bare spec with no status: that
			// the ceremony is closed is a warning then, as it is when Temporal
			// says so (the update answers for certain). Who may sign, and
			// signatures already made, do not change.
			switch r := rules.MaySign(st, kf.WitnessID); {
			case r == nil:
			case r.Code != rules.CodeClosed:
				return fmt.Errorf("%s cannot sign %s: %s", kf.WitnessID, id, r.Reason)
			case st.Status != "":
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the ceremony is %s and will refuse the signature\n", st.Status)
			}
			stmt := statement.Build(st.Spec, kf.WitnessID, d, comment, when)
			canon := stmt.Canonical()
			if key == "" {
				sum := sha256.Sum256(canon)
				key = "sign/" + hex.EncodeToString(sum[:8])
			}
			req := contract.SignRequest{IdempotencyKey: key, WitnessID: kf.WitnessID, Decision: d, Comment: comment,
				Statement: string(canon), Proof: statement.Sign(priv, canon), Via: "cli"}
			if ps := rules.CheckSignRequest(req); len(ps) > 0 {
				return problemsError(ps)
			}
			errOut := cmd.ErrOrStderr()
			fmt.Fprintf(errOut, "You are signing, with key %s:\n  %s\nPolicy: %s\n", kf.KeyID, stmt.ToWords(""), statement.PolicyWords(st.Spec))
			payload, err := json.Marshal(req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(payload))
			if !send {
				return nil
			}
			if cc == nil {
				c, err := dialTool(cmd.Context(), "guildhall-sign")
				if err != nil {
					return err
				}
				defer c.Close()
				cc = ceremonyclient.New(c)
			}
			res, err := cc.Sign(cmd.Context(), id, req)
			if err != nil {
				return fmt.Errorf("the ceremony refused the signature: %w", err)
			}
			fmt.Fprintf(errOut, "accepted: %s is %s with %d approval(s), %d rejection(s)\n", id, res.Status, res.Approvals, res.Rejections)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&keyFile, "key", "k", "", "ed25519 key file (from `guildhall keygen`, or a PKCS#8 PEM key with --witness)")
	f.StringVarP(&decision, "decision", "d", "", "approve or reject")
	f.StringVarP(&comment, "comment", "m", "", "comment shown with the decision (its SHA-256 is part of the signed statement)")
	f.StringVar(&stateFile, "state", "", "the ceremony's status-query answer or spec as JSON (- for stdin) instead of asking Temporal")
	f.StringVar(&witness, "witness", "", "witness id, for key files that do not name one")
	f.StringVar(&at, "at", "", "statement time (RFC 3339; default now)")
	f.StringVar(&key, "idempotency-key", "", "idempotency key (default derived from the statement)")
	f.BoolVar(&send, "send", false, "send the sign update to the ceremony and wait for its answer")
	return cmd
}

// parseState accepts the status query's answer (contract.State) or a bare spec.
func parseState(data []byte) (contract.State, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return contract.State{}, fmt.Errorf("not JSON: %w", err)
	}
	var st contract.State
	if _, ok := probe["spec"]; ok {
		if err := json.Unmarshal(data, &st); err != nil {
			return st, fmt.Errorf("not a ceremony state: %w", err)
		}
		return st, nil
	}
	if err := json.Unmarshal(data, &st.Spec); err != nil {
		return st, fmt.Errorf("not a ceremony spec: %w", err)
	}
	st.CeremonyID = st.Spec.ID
	return st, nil
}
