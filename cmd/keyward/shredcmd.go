package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/audit"
)

func (a *app) orgShredCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "shred ORG",
		Short: "Destroy every key of ORG: all of its data becomes unrecoverable",
		Long: `shred destroys every key of the organization at once — every data key version,
the active one included, and every imported Fernet key — in one transaction
(crypto-shredding). Every ciphertext ever sealed for it, in keyward's store,
in app tables and in backups, becomes unrecoverable, and the organization can
never encrypt again. Running servers drop its cached keys within a second.
There is no undo. On a terminal you must type the organization id to confirm;
scripts pass --yes.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("org shred needs one organization id")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if !yes {
				q := fmt.Sprintf("shred org %s? every key of it is destroyed and ALL its data becomes unrecoverable; this cannot be undone", org)
				if err := a.confirm(q, org); err != nil {
					return err
				}
			}
			eng, _, done, err := a.openAudited(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			err = eng.ShredOrg(cmd.Context(), org)
			if err := a.audit(cmd.Context(), audit.Event{Org: org, Action: actionOrgShred}, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("shredded org %s, but %w", org, err)
				}
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"org": org, "shredded": true})
			}
			fmt.Fprintf(a.stdout, "shredded org %s: every key is destroyed; its data is unrecoverable\n", org)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (for scripts)")
	return cmd
}
