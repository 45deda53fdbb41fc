package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/format"
)

func (a *app) encryptCmd() *cobra.Command {
	var org, aadContext string
	cmd := &cobra.Command{
		Use:   "encrypt --org ORG [--context CTX]",
		Short: "Encrypt stdin for ORG; print the kw1:… text form",
		Long: `Encrypt reads the plaintext from stdin, byte for byte (use printf '%s', not
echo, unless you mean to keep the newline), and prints the ciphertext in the
text form kw1:<version>:<base64url>. The same --context must be given to decrypt.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("encrypt needs --org ORG")
			}
			plaintext, err := readLimited(a.stdin, keyward.MaxPlaintextSize, "plaintext")
			if err != nil {
				return err
			}
			defer clear(plaintext)
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			f, err := eng.EncryptField(cmd.Context(), org, plaintext, aadContext)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org        string `json:"org"`
					KeyVersion uint32 `json:"key_version"`
					Ciphertext string `json:"ciphertext"`
				}{org, f.KeyVersion, f.String()})
			}
			_, err = fmt.Fprintln(a.stdout, f.String())
			return err
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization id")
	cmd.Flags().StringVar(&aadContext, "context", "", "where the value lives, e.g. channels.access_token (bound into the ciphertext)")
	return cmd
}

func (a *app) decryptCmd() *cobra.Command {
	var org, aadContext string
	cmd := &cobra.Command{
		Use:   "decrypt --org ORG [--context CTX]",
		Short: "Decrypt a ciphertext from stdin for ORG; print the plaintext",
		Long: `Decrypt reads one ciphertext from stdin — text (kw1:…), JSON or binary form,
or a Fernet token (gAAAAA…) of an organization that imported its Fernet key
with keyward fernet import — and writes the plaintext to stdout exactly, with
no newline added. --context does not apply to Fernet tokens, which have none.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("decrypt needs --org ORG")
			}
			in, err := readLimited(a.stdin, keyward.MaxCiphertextSize, "ciphertext")
			if err != nil {
				return err
			}
			if len(in) > 0 && (in[0] == 'k' || in[0] == '{' || in[0] == 'g') {
				in = bytes.TrimSpace(in) // text, JSON and Fernet forms may end in a newline
			}
			if len(in) == 0 {
				return fmt.Errorf("no ciphertext on stdin (pipe in the output of keyward encrypt)")
			}
			ctx := cmd.Context()
			eng, _, done, err := a.openAudited(ctx)
			if err != nil {
				return err
			}
			defer done()
			plaintext, err := eng.Decrypt(ctx, org, in, aadContext)
			defer clear(plaintext)
			// The plaintext leaves only once its decision is durable.
			if err := a.audit(ctx, decryptEvent(ctx, eng, org, in, aadContext, err), err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("decrypted, but not printed: %w", err)
				}
				return err
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org       string `json:"org"`
					Plaintext string `json:"plaintext"`
				}{org, base64.StdEncoding.EncodeToString(plaintext)})
			}
			_, err = a.stdout.Write(plaintext)
			return err
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization id")
	cmd.Flags().StringVar(&aadContext, "context", "", "the context given to encrypt")
	return cmd
}

// decryptEvent is the audit event of a decrypt of ciphertext: the key
// version it names when it parses, or for a Fernet token that opened, the
// imported key's name. Never the ciphertext or the plaintext.
func decryptEvent(ctx context.Context, eng *keyward.Engine, org string, ciphertext []byte, aadContext string, decErr error) audit.Event {
	ev := audit.Event{Org: org, Action: actionDecrypt, Context: aadContext}
	if f, err := format.Parse(ciphertext); err == nil {
		ev.KeyVersion = f.KeyVersion
	} else if decErr == nil {
		if ref, err := eng.KeyRefOf(ctx, org, ciphertext); err == nil && ref.Kind == keyward.KindFernet {
			ev.Name = keyward.KeyName(ref)
		}
	}
	return ev
}

// readLimited reads all of r, refusing more than limit bytes.
func readLimited(r io.Reader, limit int, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: %s on stdin exceeds %d bytes", keyward.ErrTooLarge, what, limit)
	}
	return b, nil
}
