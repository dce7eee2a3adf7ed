package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/statement"
)

func newKeygenCmd() *cobra.Command {
	var witness, out string
	cmd := &cobra.Command{
		Use:   "keygen --witness ID [--out FILE]",
		Short: "Create an ed25519 signing key for a witness (file mode 0600) and print its public key to register",
		Long: `keygen writes a new ed25519 key to a file only its owner can read and prints the
public key and key id. Register it for the witness with
` + "`guildhall witness add-key`" + ` (or on the web account page); from then on the
witness's decisions must be signed, e.g. with ` + "`guildhall sign`" + `. Keep the file
secret: whoever holds it can sign as the witness.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(witness) == "" {
				return errors.New("--witness is required: the witness id (e-mail or OIDC subject) the key belongs to")
			}
			if out == "" {
				out = safeName(witness) + ".ed25519.json"
			}
			kf, _, err := statement.GenerateKey(witness, rand.Reader, time.Now())
			if err != nil {
				return err
			}
			if err := writeKeyFile(out, kf); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s (mode 0600; keep it secret)\n", out)
			fmt.Fprintf(w, "witness:    %s\nkey id:     %s\npublic key: %s\n", kf.WitnessID, kf.KeyID, kf.PublicKey)
			fmt.Fprintf(w, "register it (this proves you hold it):\n  guildhall witness add-key %s %s\n", shellQuote(kf.WitnessID), shellQuote(out))
			fmt.Fprintf(w, "or on your web account page: Add an ed25519 key, then guildhall prove-key --key %s <challenge>\n", shellQuote(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&witness, "witness", "", "witness id the key belongs to (required)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "key file to create (default <witness>.ed25519.json); never overwritten")
	return cmd
}

// writeKeyFile creates the file exclusively, owner-only, so an existing key is
// never overwritten and the secret is never briefly world-readable.
func writeKeyFile(path string, kf statement.KeyFile) error {
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; choose another --out (a key file is never overwritten)", path)
		}
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	return f.Close()
}

// readKeyFile loads a private key, refusing files others can read, as ssh does.
func readKeyFile(path, witness string) (statement.KeyFile, ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return statement.KeyFile{}, nil, fmt.Errorf("key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return statement.KeyFile{}, nil, fmt.Errorf("key file %s can be read by others (mode %04o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return statement.KeyFile{}, nil, fmt.Errorf("key file: %w", err)
	}
	kf, priv, err := statement.ParseKeyFile(data, witness)
	if err != nil {
		return kf, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return kf, priv, nil
}

// publicKeyArg reads a public key given inline or as a file.
func publicKeyArg(arg, witness string) (ed25519.PublicKey, error) {
	text := arg
	if data, err := os.ReadFile(arg); err == nil {
		text = string(data)
		var kf statement.KeyFile
		if json.Unmarshal(data, &kf) == nil && kf.PublicKey != "" {
			if kf.WitnessID != "" && kf.WitnessID != witness {
				return nil, fmt.Errorf("%s is a key of %s, not %s", arg, kf.WitnessID, witness)
			}
			text = kf.PublicKey
		}
	}
	pub, err := statement.ParseEd25519PublicKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return pub, nil
}

// safeName turns a witness id into a file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '@':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._/-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
