package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func (a *app) orgCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Manage organizations (tenants)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("org needs a subcommand: create, list or shred")
		},
	}
	cmd.AddCommand(a.orgCreateCmd(), a.orgListCmd(), a.orgShredCmd())
	return cmd
}

func (a *app) orgCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create ORG...",
		Short: "Create organizations, each with its data key version 1",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("org create needs an organization id")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, _, done, err := a.openAudited(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			for _, org := range args {
				kv, err := eng.CreateOrg(cmd.Context(), org)
				err = a.audit(cmd.Context(), audit.Event{Org: org, Action: actionOrgCreate, KeyVersion: kv.Version}, err)
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("created org %s, but %w", org, err)
				}
				if err != nil {
					return err
				}
				if a.jsonOut {
					if err := a.printJSON(orgJSON{ID: org, KeyVersion: kv.Version, CreatedAt: kv.CreatedAt}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(a.stdout, "created org %s (data key v%d)\n", org, kv.Version)
			}
			return nil
		},
	}
}

type orgJSON struct {
	ID         string    `json:"id"`
	KeyVersion uint32    `json:"key_version,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

func (a *app) orgListCmd() *cobra.Command {
	var (
		after string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List organizations in id order",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			orgs, err := listOrgs(cmd.Context(), eng, after, limit)
			if err != nil {
				return err
			}
			listed := make([]orgJSON, len(orgs))
			for i, o := range orgs {
				listed[i] = orgJSON{ID: o.ID, CreatedAt: o.CreatedAt}
				if !a.jsonOut {
					fmt.Fprintln(a.stdout, o.ID)
				}
			}
			if a.jsonOut {
				return a.printJSON(listed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "start after this organization id")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	return cmd
}

// listOrgs pages through the organizations after the id after, up to limit
// of them (0: all).
func listOrgs(ctx context.Context, eng *keyward.Engine, after string, limit int) ([]keyward.Org, error) {
	const page = 500
	var all []keyward.Org
	for limit == 0 || len(all) < limit {
		n := page
		if limit > 0 {
			n = min(page, limit-len(all))
		}
		orgs, err := eng.Orgs(ctx, after, n)
		if err != nil {
			return nil, err
		}
		all = append(all, orgs...)
		if len(orgs) < n {
			break
		}
		after = orgs[len(orgs)-1].ID
	}
	return all, nil
}
