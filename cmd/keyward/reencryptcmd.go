package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

func (a *app) reencryptCmd() *cobra.Command {
	var (
		org string
		jf  jobFlags
	)
	cmd := &cobra.Command{
		Use:   "reencrypt [--org ORG]",
		Short: "Re-encrypt the secret store's values to each org's active key version",
		Long: `reencrypt rewrites every secret in keyward's own secret store (of one
organization with --org, else of all) under its organization's active key
version, with compare-and-swap writes, checkpoints and leases like migrate:
interrupt it at any time and run it again to resume. See docs/REENCRYPT.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := jf.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			eng, st, js, done, err := a.openJobs(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			ss, ok := st.(reencrypt.SecretStore)
			if !ok {
				return errNoSecretStore
			}
			t := reencrypt.NewSecrets(ss, org)
			ja := a.newJobAudit("reencrypt", org, t, jf.dryRun)
			if org != "" {
				if _, err := st.Org(ctx, org); errors.Is(err, store.ErrNotFound) {
					return ja.refused(ctx, fmt.Errorf("%w %q (see keyward org list)", keyward.ErrUnknownOrg, org))
				} else if err != nil {
					return err
				}
			}
			conv := &reencrypt.Converter{Sealer: eng}
			if jf.dryRun {
				return a.dryRun(ctx, ja, "reencrypt", t, conv, jf.batch)
			}
			_, err = a.runJob(ctx, ja, "reencrypt", js, t, conv, jf.options("reencrypt", org), func(o reencrypt.Options) (reencrypt.Summary, error) {
				return reencrypt.Run(ctx, js, t, conv, o)
			})
			return err
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this organization's secrets")
	jf.add(cmd, true)
	return cmd
}
