package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/datadir"
	"github.com/keyward/keyward/policy"
)

func (a *app) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a data directory (embedded store, local development KEK) and print an admin token once",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.initDataDir(cmd.Context(), a.dataDir(), "next: keyward org create ORG, or keyward serve")
		},
	}
}

// initDataDir creates the data directory dir and an admin token (admin on
// every org), printed once on stdout. keyward init and the first start of
// keyward serve share it.
func (a *app) initDataDir(ctx context.Context, dir, next string) error {
	if err := datadir.Init(ctx, dir); err != nil {
		return err
	}
	auth, _, done, err := a.tokenAuthority(ctx, true)
	if err != nil {
		return err
	}
	defer done()
	tok, info, err := auth.Create(ctx, []policy.Grant{{Org: policy.AnyOrg, Capability: policy.Admin}}, 0, "admin (created by keyward init)")
	if err == nil {
		defer tok.Wipe()
	}
	// The token is printed only once its creation is durable.
	if err := a.audit(ctx, audit.Event{Org: policy.AnyOrg, Action: actionTokenCreate, Name: info.ID}, err); err != nil {
		if errors.Is(err, errAuditUnavailable) {
			return fmt.Errorf("created the admin token %s, but not printed: %w (create another with keyward token create --org '*' --allow admin)", info.ID, err)
		}
		return fmt.Errorf("create the admin token: %w", err)
	}
	if a.jsonOut {
		return a.printJSON(map[string]string{
			"data":           dir,
			"store":          filepath.Join(dir, datadir.DBFile),
			"kek":            "local:" + filepath.Join(dir, datadir.KEKFile),
			"admin_token":    string(tok.Reveal()),
			"admin_token_id": info.ID,
		})
	}
	fmt.Fprintf(a.stdout, "initialized %s\n", dir)
	fmt.Fprintf(a.stdout, "  store  %s (embedded sqlite)\n", filepath.Join(dir, datadir.DBFile))
	fmt.Fprintf(a.stdout, "  kek    %s (local key file: development only, keep it apart from backups of the store)\n", filepath.Join(dir, datadir.KEKFile))
	fmt.Fprintf(a.stdout, "admin token: %s\n", tok.Reveal())
	fmt.Fprintf(a.stdout, "  (id %s, admin on every org; shown only now: store it like a root password)\n", info.ID)
	fmt.Fprintln(a.stdout, next)
	return nil
}

// noArgs rejects positional arguments with a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
