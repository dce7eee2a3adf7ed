package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Registering an ed25519 key needs a proof that its holder has the private key
// (store.AddProvenKey): `witness add-key` makes one itself from the key file,
// against a challenge it asks the Ops DB for; on the web, the account page
// shows a challenge and `guildhall prove-key` answers it.

func newProveKeyCmd() *cobra.Command {
	var keyPath string
	cmd := &cobra.Command{
		Use:   "prove-key --key FILE CHALLENGE",
		Short: "Sign a key challenge from the account page with your key file (proof that you hold the key)",
		Long: `prove-key signs a challenge (ghc1.…), as the web account page shows it under
"Add an ed25519 key", with the private key in FILE, and prints the proof (ghp1.…)
to paste back into the page. It needs no database or network: the key never
leaves this machine. A challenge is for one person, works once, and expires
after 10 minutes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return errors.New("--key is required: the key file `guildhall keygen` wrote")
			}
			c, err := statement.ParseKeyChallenge(args[0])
			if err != nil {
				return err
			}
			// The key file must be the challenged person's (ParseKeyFile checks).
			_, priv, err := readKeyFile(keyPath, c.WitnessID)
			if err != nil {
				return err
			}
			p := statement.ProvePossession(c, priv)
			fmt.Fprintf(cmd.ErrOrStderr(), "proof that %s holds key %s (paste it into the account page):\n", c.WitnessID, p.Statement.KeyID)
			fmt.Fprintln(cmd.OutOrStdout(), p.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the key file (from `guildhall keygen`, or a PKCS#8 PEM ed25519 key)")
	return cmd
}

// addKeyWithProof registers the key in keyArg (a key file: a public key alone
// is refused, saying why) for witness id, proving possession with a challenge
// from the Ops DB.
func addKeyWithProof(ctx context.Context, out io.Writer, s *store.Store, id, keyArg, label string) error {
	_, priv, err := readKeyFile(keyArg, id)
	if err != nil {
		// A public key (inline, or a file of one) proves nothing.
		if _, perr := publicKeyArg(keyArg, id); perr == nil {
			return errPublicKeyOnly
		}
		return err
	}
	c, err := s.NewKeyChallenge(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w (add them with --create, or log in once through the web)", err)
		}
		return err
	}
	cred, err := s.AddProvenKey(ctx, id, statement.ProvePossession(c, priv), label, cliActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "registered %s for %s (it signed a one-time challenge: possession proven)\n", cred.KeyID, id)
	return nil
}

var errPublicKeyOnly = errors.New("a key is registered only with proof that its holder has the private key: " +
	"give the key file `guildhall keygen` wrote (it signs a one-time challenge and nothing secret leaves this machine), " +
	"or let the key's holder add it on their web account page")
