package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/format/fernet"
)

func (a *app) fernetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fernet",
		Short: "Import and list legacy Fernet keys (read Fernet tokens while migrating)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("fernet needs a subcommand: import or list")
		},
	}
	cmd.AddCommand(a.fernetImportCmd(), a.fernetListCmd())
	return cmd
}

type importedJSON struct {
	Org         string `json:"org"`
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
	New         bool   `json:"new"`
}

func (a *app) fernetImportCmd() *cobra.Command {
	var (
		org, keyFile string
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "import (--org ORG | --all) --key-file F",
		Short: "Store an app's Fernet keys, wrapped by the KEK, as decrypt-only legacy keys",
		Long: `import reads Fernet keys from a file (one url-safe base64 key per line, newest
first, as in MultiFernet([newest, …, oldest]); lines starting with # are
comments). The file must not be readable by group or others (chmod 600). Each
key is wrapped by the KEK and stored as a decrypt-only legacy key fernet:ID of
the organization (or of every organization with --all); the newest gets the
highest ID and is tried first. From then on keyward decrypt, the library's
Decrypt and the server accept that organization's Fernet tokens. Keys are
never printed: list shows fingerprints. Importing a key again changes nothing.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if (org == "") == !all {
				return usagef("fernet import needs exactly one of --org ORG or --all")
			}
			if keyFile == "" {
				return usagef("fernet import needs --key-file F (one key per line, newest first, mode 600)")
			}
			data, err := credential.Load(credential.Source{File: keyFile}, a.getenv)
			if err != nil {
				return err
			}
			defer data.Wipe()
			encoded, err := fernet.SplitKeyFile(data.Reveal())
			if err != nil {
				return fmt.Errorf("%s: %w", keyFile, err)
			}
			eng, _, done, err := a.openAudited(ctx)
			if err != nil {
				return err
			}
			defer done()
			orgs := []string{org}
			if all {
				list, err := listOrgs(ctx, eng, "", 0)
				if err != nil {
					return err
				}
				orgs = orgs[:0]
				for _, o := range list {
					orgs = append(orgs, o.ID)
				}
			}
			var out []importedJSON
			for _, o := range orgs {
				res, err := a.importInto(ctx, eng, o, encoded, all)
				if err != nil {
					return fmt.Errorf("imported into %d of %d orgs, then: %w", len(out), len(orgs), err)
				}
				out = append(out, res...)
			}
			if a.jsonOut {
				return a.printJSON(out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization id")
	cmd.Flags().BoolVar(&all, "all", false, "import into every organization")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "file of Fernet keys, one per line, newest first (mode 600)")
	return cmd
}

// importInto imports the keys (newest first) into org, oldest first so the
// newest gets the highest id. With skipShredded a shredded org is skipped.
func (a *app) importInto(ctx context.Context, eng *keyward.Engine, org string, encoded [][]byte, skipShredded bool) ([]importedJSON, error) {
	var out []importedJSON
	for i := len(encoded) - 1; i >= 0; i-- {
		k, err := eng.ImportFernetKey(ctx, org, encoded[i])
		isNew := err == nil
		ev := audit.Event{Org: org, Action: actionFernetImport}
		switch {
		case errors.Is(err, keyward.ErrKeyExists):
			ev.Code = codeExists
		case errors.Is(err, keyward.ErrShredded) && skipShredded:
			if !a.jsonOut {
				fmt.Fprintf(a.stdout, "org %s: skipped, it is shredded\n", org)
			}
			return nil, nil
		case err != nil:
			return nil, a.audit(ctx, ev, err)
		}
		name := keyward.KeyName(keyward.KeyRef{Kind: keyward.KindFernet, Version: k.ID})
		ev.Name = name
		if err := a.audit(ctx, ev, nil); err != nil {
			return nil, fmt.Errorf("org %s: imported %s, but %w", org, name, err)
		}
		out = append(out, importedJSON{org, name, k.Fingerprint, isNew})
		if !a.jsonOut {
			if isNew {
				fmt.Fprintf(a.stdout, "org %s: imported %s (fingerprint %s), decrypt-only\n", org, name, k.Fingerprint)
			} else {
				fmt.Fprintf(a.stdout, "org %s: already holds this key as %s (fingerprint %s)\n", org, name, k.Fingerprint)
			}
		}
	}
	return out, nil
}

func (a *app) fernetListCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List an organization's imported Fernet keys: ids, states, fingerprints",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("fernet list needs --org ORG")
			}
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			keys, err := eng.FernetKeys(cmd.Context(), org)
			if err != nil {
				return err
			}
			out := make([]fernetKeyJSON, len(keys))
			for i, k := range keys {
				out[i] = fernetKeyJSON{ID: k.ID, Name: keyward.KeyName(keyward.KeyRef{Kind: keyward.KindFernet, Version: k.ID}),
					State: string(k.State), Fingerprint: k.Fingerprint, KEK: k.KEKID, KEKVersion: k.KEKVersion, CreatedAt: k.CreatedAt}
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org  string          `json:"org"`
					Keys []fernetKeyJSON `json:"fernet_keys"`
				}{org, out})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSTATE\tFINGERPRINT\tKEK\tIMPORTED")
			for _, k := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s#%d\t%s\n", k.Name, k.State, k.Fingerprint, k.KEK, k.KEKVersion, k.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization id")
	return cmd
}
