package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/secretstore"
	"github.com/keyward/keyward/store"
)

func (a *app) secretCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "secret put|get|list|reveal|rm --org ORG [NAME]",
		Short: "Keep typed secrets (API keys, webhook secrets, credentials, tokens) per organization",
		Long: `The secret store keeps named values of an organization, encrypted under its
data key. Names are segments of letters, digits, '.', '_' and '-' separated by
'/', e.g. webhooks/stripe or smtp/primary.password (see docs/SECRETS.md).
Kinds: api_key, webhook_secret, email_credential, oauth_token, generic.`,
	}
	cmd.PersistentFlags().StringVar(&org, "org", "", "organization id")
	cmd.AddCommand(a.secretPutCmd(&org), a.secretGetCmd(&org), a.secretListCmd(&org),
		a.secretRevealCmd(&org), a.secretRmCmd(&org))
	return cmd
}

func (a *app) secretPutCmd(org *string) *cobra.Command {
	var (
		kind, hint, fromFile string
		ifRevision           int64
		stripNewline         bool
	)
	cmd := &cobra.Command{
		Use:   "put --org ORG NAME --kind KIND [--hint last4] [--from-file F]",
		Short: "Store the value read from stdin (or --from-file) as secret NAME",
		Long: `Put stores a value under NAME, creating the secret or replacing it. The value
is read from stdin, or from the file --from-file names, byte for byte: a
trailing newline is part of it unless --strip-newline is given (printf '%s'
writes none; echo does). A value is never taken from a flag, and not typed at
a terminal either, where it would echo: pipe it in or name a file.

--hint last4 keeps the last 4 characters in clear in the metadata, for people
to recognise the secret; the value must then be text of at least 12
characters. --if-revision N replaces the secret only if it is still at
revision N.`,
		Args: secretNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretArgs(*org, name); err != nil {
				return err
			}
			k, err := secretstore.ParseKind(kind)
			if err != nil {
				if kind == "" {
					return usagef("secret put needs --kind (api_key, webhook_secret, email_credential, oauth_token or generic)")
				}
				return usageError{err}
			}
			if hint != secretstore.HintNone && hint != secretstore.HintLast4 {
				return usagef("invalid --hint %q (the one hint is last4)", hint)
			}
			if ifRevision < 0 {
				return usagef("invalid --if-revision %d (want a revision from 1)", ifRevision)
			}
			raw, err := a.readSecretValue(fromFile)
			if err != nil {
				return err
			}
			if stripNewline {
				raw = stripOneNewline(raw)
			}
			value := secret.New(raw)
			clear(raw)
			defer value.Wipe()
			ctx := cmd.Context()
			ss, done, err := a.openSecrets(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			m, err := ss.Put(ctx, *org, name, k, value, secretstore.PutOptions{Hint: hint, IfRevision: ifRevision})
			ev := audit.Event{Org: *org, Action: actionSecretPut, Name: name, KeyVersion: m.KeyVersion, ValueMAC: a.valueMAC(value.Reveal())}
			if err := a.audit(ctx, ev, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("stored secret %s of org %s, but %w", name, *org, err)
				}
				return secretErr(err, *org, name)
			}
			return a.printMetadata(m)
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "api_key, webhook_secret, email_credential, oauth_token or generic")
	cmd.Flags().StringVar(&hint, "hint", "", "last4: keep the last 4 characters in clear in the metadata")
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file instead of stdin")
	cmd.Flags().BoolVar(&stripNewline, "strip-newline", false, "drop one trailing newline (\\n or \\r\\n) from the value")
	cmd.Flags().Int64Var(&ifRevision, "if-revision", 0, "replace only if the secret is at this revision")
	return cmd
}

func (a *app) secretGetCmd(org *string) *cobra.Command {
	return &cobra.Command{
		Use:   "get --org ORG NAME",
		Short: "Show the metadata of secret NAME (never its value)",
		Args:  secretNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretArgs(*org, name); err != nil {
				return err
			}
			ss, done, err := a.openSecrets(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			m, err := ss.Get(cmd.Context(), *org, name)
			if err != nil {
				return secretErr(err, *org, name)
			}
			return a.printMetadata(m)
		},
	}
}

func (a *app) secretListCmd(org *string) *cobra.Command {
	var (
		after string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "list --org ORG [--after NAME] [--limit N]",
		Short: "List the secrets of ORG (metadata only), in name order",
		Long: fmt.Sprintf(`List prints up to --limit secrets (default %d, at most %d) with names after
--after. When more follow, it says how to get the next page (with --json, the
"next" field is the --after of the next page, "" at the end).`,
			secretstore.DefaultListLimit, secretstore.MaxListLimit),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if *org == "" {
				return usagef("secret list needs --org ORG")
			}
			if after != "" {
				if err := secretstore.ValidateName(after); err != nil {
					return usagef("--after: %v", err)
				}
			}
			if limit < 0 || limit > secretstore.MaxListLimit {
				return usagef("invalid --limit %d (want 1 to %d)", limit, secretstore.MaxListLimit)
			}
			ss, done, err := a.openSecrets(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			items, next, err := ss.List(cmd.Context(), *org, after, limit)
			if err != nil {
				return secretErr(err, *org, "")
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org   string                 `json:"org"`
					Items []secretstore.Metadata `json:"items"`
					Next  string                 `json:"next"`
				}{*org, items, next})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tHINT\tKEY\tREVISION\tUPDATED")
			for _, m := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s\tv%d\t%d\t%s\n", m.Name, m.Kind, displayHint(m.Hint), m.KeyVersion, m.Revision, m.UpdatedAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				a.logf("more: keyward secret list --org %s --after %s", *org, next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "start after this name (the last name of the previous page)")
	cmd.Flags().IntVar(&limit, "limit", 0, fmt.Sprintf("page size (default %d, at most %d)", secretstore.DefaultListLimit, secretstore.MaxListLimit))
	return cmd
}

func (a *app) secretRevealCmd(org *string) *cobra.Command {
	return &cobra.Command{
		Use:   "reveal --org ORG NAME",
		Short: "Write the value of secret NAME to stdout, exactly",
		Long: `Reveal decrypts secret NAME and writes its value to stdout byte for byte, with
nothing added (no newline). With --json it prints the metadata and the value
in base64.`,
		Args: secretNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretArgs(*org, name); err != nil {
				return err
			}
			ctx := cmd.Context()
			ss, done, err := a.openSecrets(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			value, m, err := ss.Reveal(ctx, *org, name)
			if err == nil {
				defer value.Wipe()
			}
			// The value leaves only once its decision is durable.
			ev := audit.Event{Org: *org, Action: actionSecretReveal, Name: name, KeyVersion: m.KeyVersion}
			if err == nil {
				ev.ValueMAC = a.valueMAC(value.Reveal())
			}
			if err := a.audit(ctx, ev, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("revealed secret %s of org %s, but not printed: %w", name, *org, err)
				}
				return secretErr(err, *org, name)
			}
			if a.jsonOut {
				return a.printJSON(struct {
					secretstore.Metadata
					Value string `json:"value"`
				}{m, base64.StdEncoding.EncodeToString(value.Reveal())})
			}
			_, err = a.stdout.Write(value.Reveal())
			return err
		},
	}
}

func (a *app) secretRmCmd(org *string) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm --org ORG NAME [--yes]",
		Short: "Delete secret NAME",
		Long: `Rm deletes secret NAME. On a terminal it asks you to type the name to
confirm; elsewhere (scripts) pass --yes.`,
		Args: secretNameArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkSecretArgs(*org, name); err != nil {
				return err
			}
			if !yes {
				if err := a.confirm(fmt.Sprintf("delete secret %s of org %s? its value cannot be recovered", name, *org), name); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			ss, done, err := a.openSecrets(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			err = ss.Delete(ctx, *org, name)
			if err := a.audit(ctx, audit.Event{Org: *org, Action: actionSecretDelete, Name: name}, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("deleted secret %s of org %s, but %w", name, *org, err)
				}
				return secretErr(err, *org, name)
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org     string `json:"org"`
					Name    string `json:"name"`
					Deleted bool   `json:"deleted"`
				}{*org, name, true})
			}
			a.logf("deleted secret %s of org %s", name, *org)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (for scripts)")
	return cmd
}

// secretNameArg takes exactly one NAME.
func secretNameArg(_ *cobra.Command, args []string) error {
	switch len(args) {
	case 0:
		return usagef("missing secret NAME (e.g. webhooks/stripe)")
	case 1:
		return nil
	}
	return usagef("unexpected argument %q (one secret NAME at a time)", args[1])
}

// checkSecretArgs checks --org and NAME before anything is opened.
func checkSecretArgs(org, name string) error {
	if org == "" {
		return usagef("secret commands need --org ORG")
	}
	if err := secretstore.ValidateName(name); err != nil {
		return usagef("%v (names are segments of letters, digits, '.', '_' and '-' separated by '/', e.g. webhooks/stripe)", err)
	}
	return nil
}

// readSecretValue reads the value of secret put: from the file path names,
// or from stdin unless stdin is a terminal (a typed value would echo).
func (a *app) readSecretValue(path string) ([]byte, error) {
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read --from-file: %w", err)
		}
		defer f.Close()
		return readValue(f, "--from-file "+path)
	}
	if f, ok := a.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return nil, fmt.Errorf("refusing to read a secret typed at a terminal (it would echo): pipe it in, e.g. printf '%%s' \"$VALUE\" | keyward secret put …, or use --from-file F")
		}
	}
	return readValue(a.stdin, "stdin")
}

// readValue reads at most MaxValueSize bytes from r.
func readValue(r io.Reader, from string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, secretstore.MaxValueSize+1))
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("read secret value from %s: %w", from, err)
	}
	if len(b) > secretstore.MaxValueSize {
		clear(b)
		return nil, fmt.Errorf("%w: the value on %s exceeds %d bytes (secrets are keys, tokens and passwords)",
			secretstore.ErrTooLarge, from, secretstore.MaxValueSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w on %s: pipe the value in, or use --from-file F", secretstore.ErrEmptyValue, from)
	}
	return b, nil
}

// stripOneNewline drops one trailing "\n" or "\r\n".
func stripOneNewline(b []byte) []byte {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	clear(b[n:])
	return b[:n]
}

// openSecrets opens the configured store and KEK, an engine on them and the
// secret store, and with audited the audit log; call the returned function
// when done.
func (a *app) openSecrets(ctx context.Context, audited bool) (*secretstore.Store, func(), error) {
	c, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	d, err := config.Open(ctx, c, a.getenv)
	if err != nil {
		return nil, nil, err
	}
	st, ok := d.Store.(store.SecretStore)
	if !ok {
		d.Close()
		return nil, nil, fmt.Errorf("the configured store %T keeps no secrets", d.Store)
	}
	eng, err := keyward.Open(d.Store, d.KEK, cliOptions(d.Options))
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	ss, err := secretstore.New(eng, st)
	if err == nil && audited {
		err = a.openAudit(ctx, d)
	}
	if err != nil {
		eng.Close()
		d.Close()
		return nil, nil, err
	}
	return ss, func() { a.closeAudit(); eng.Close(); d.Close() }, nil
}

// secretErr rewrites the secret store's decisions as one line naming what to
// do next; other errors pass as they are.
func secretErr(err error, org, name string) error {
	switch {
	case errors.Is(err, secretstore.ErrUnknownOrg):
		return fmt.Errorf("unknown organization %s: see keyward org list, or create it with keyward org create %s", org, org)
	case errors.Is(err, secretstore.ErrNotFound):
		return fmt.Errorf("no secret %s in org %s: see keyward secret list --org %s", name, org, org)
	case errors.Is(err, secretstore.ErrConflict):
		return fmt.Errorf("secret %s of org %s changed since that revision: see keyward secret get --org %s %s", name, org, org, name)
	case errors.Is(err, keyward.ErrDecrypt):
		return fmt.Errorf("decryption failed: the stored ciphertext of secret %s does not belong to org %s and this name (moved or altered); put the value again", name, org)
	case errors.Is(err, secretstore.ErrInvalidHint):
		return fmt.Errorf("%w; put without --hint (or with --strip-newline if the value ends in a newline)", err)
	}
	return err
}

// printMetadata prints one secret's metadata, as JSON with --json.
func (a *app) printMetadata(m secretstore.Metadata) error {
	if a.jsonOut {
		return a.printJSON(m)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", m.Name)
	fmt.Fprintf(tw, "org:\t%s\n", m.Org)
	fmt.Fprintf(tw, "kind:\t%s\n", m.Kind)
	if m.Hint != "" {
		fmt.Fprintf(tw, "hint:\t%s\n", displayHint(m.Hint))
	}
	fmt.Fprintf(tw, "key version:\t%d\n", m.KeyVersion)
	fmt.Fprintf(tw, "revision:\t%d\n", m.Revision)
	fmt.Fprintf(tw, "created:\t%s\n", m.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", m.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

// displayHint shows a last-4 hint as the end of a longer value; "-" when
// there is none.
func displayHint(h string) string {
	if h == "" {
		return "-"
	}
	return "…" + h
}
