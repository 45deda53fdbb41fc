package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func (a *app) rotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate keys",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("rotate needs a subcommand: dek or kek")
		},
	}
	cmd.AddCommand(a.rotateDEKCmd(), a.rotateKEKCmd())
	return cmd
}

type rotatedJSON struct {
	Org     string `json:"org"`
	Version uint32 `json:"version"`
}

func (a *app) rotateDEKCmd() *cobra.Command {
	var (
		org string
		all bool
	)
	cmd := &cobra.Command{
		Use:   "dek (--org ORG | --all)",
		Short: "Make a new data key version active; older versions keep decrypting",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (org == "") == !all {
				return usagef("rotate dek needs exactly one of --org ORG or --all")
			}
			eng, _, done, err := a.openAudited(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			orgs := []string{org}
			if all {
				list, err := listOrgs(cmd.Context(), eng, "", 0)
				if err != nil {
					return err
				}
				orgs = orgs[:0]
				for _, o := range list {
					orgs = append(orgs, o.ID)
				}
			}
			rotated := make([]rotatedJSON, 0, len(orgs))
			for _, o := range orgs {
				v, err := eng.RotateDEK(cmd.Context(), o)
				if all && errors.Is(err, keyward.ErrShredded) {
					continue // a shredded org has no key to rotate
				}
				err = a.audit(cmd.Context(), audit.Event{Org: o, Action: actionKeysRotate, KeyVersion: v}, err)
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("rotated org %s (v%d is active), but %w", o, v, err)
				}
				if err != nil {
					return fmt.Errorf("rotated %d of %d orgs, then: %w", len(rotated), len(orgs), err)
				}
				rotated = append(rotated, rotatedJSON{o, v})
				if !a.jsonOut {
					fmt.Fprintf(a.stdout, "rotated org %s: v%d is active; older versions decrypt only\n", o, v)
				}
			}
			if a.jsonOut {
				return a.printJSON(rotated)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization id")
	cmd.Flags().BoolVar(&all, "all", false, "rotate every organization")
	return cmd
}
