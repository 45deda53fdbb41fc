package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage access tokens for the HTTP API",
		Long: `Access tokens authenticate callers of keyward serve. A token carries grants:
an organization (or * for all) and a capability with an optional name pattern,
CAP[:PATTERN], e.g. decrypt:channels.* or secrets:reveal:webhooks/*.
Capabilities: encrypt, decrypt, rewrap, secrets:write, secrets:read,
secrets:reveal, keys:manage, admin. See docs/POLICY.md.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("token needs a subcommand: create, list or revoke")
		},
	}
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenListCmd(), a.tokenRevokeCmd())
	return cmd
}

// tokenAuthority opens the deployment and an Authority on its store, and
// with audited the audit log; call the returned function when done. The
// CLI reads the store on every call (no cache): it lives for one command.
func (a *app) tokenAuthority(ctx context.Context, audited bool) (*policy.Authority, store.Store, func(), error) {
	d, err := a.deployment(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ts, ok := d.Store.(store.TokenStore)
	if !ok {
		d.Close()
		return nil, nil, nil, fmt.Errorf("the configured store keeps no tokens (upgrade keyward)")
	}
	auth, err := policy.New(ts, &policy.Options{CacheTTL: -1})
	if err == nil && audited {
		err = a.openAudit(ctx, d)
	}
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	return auth, d.Store, func() { a.closeAudit(); d.Close() }, nil
}

type tokenJSON struct {
	ID          string     `json:"id"`
	Token       string     `json:"token,omitempty"`
	Grants      []string   `json:"grants"`
	Description string     `json:"description"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func toTokenJSON(t policy.TokenInfo, now time.Time) tokenJSON {
	j := tokenJSON{ID: t.ID, Description: t.Description, State: tokenState(t, now), CreatedAt: t.CreatedAt, Grants: []string{}}
	for _, g := range t.Grants {
		j.Grants = append(j.Grants, g.String())
	}
	if !t.ExpiresAt.IsZero() {
		j.ExpiresAt = &t.ExpiresAt
	}
	if !t.RevokedAt.IsZero() {
		j.RevokedAt = &t.RevokedAt
	}
	return j
}

func tokenState(t policy.TokenInfo, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.Live(now):
		return "expired"
	}
	return "live"
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var (
		org, expires, description string
		allow                     []string
	)
	cmd := &cobra.Command{
		Use:   "create --org ORG --allow CAP[:PATTERN]... [--expires DURATION] [--description TEXT]",
		Short: "Create a token; it is printed once, on stdout",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("token create needs --org ORG (or --org '*' for every organization)")
			}
			if len(allow) == 0 {
				return usagef("token create needs at least one --allow CAP[:PATTERN], e.g. --allow decrypt:channels.*")
			}
			grants := make([]policy.Grant, 0, len(allow))
			for _, spec := range allow {
				g, err := policy.ParseGrant(org, spec)
				if err != nil {
					return usageError{err}
				}
				grants = append(grants, g)
			}
			ttl, err := parseLifetime(expires)
			if err != nil {
				return usageError{err}
			}
			auth, st, done, err := a.tokenAuthority(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer done()
			// A grant for an org that does not exist yet would gain access
			// the day someone creates it: refuse it.
			var (
				tok  secret.Bytes
				info policy.TokenInfo
			)
			if org != policy.AnyOrg {
				if _, err = st.Org(cmd.Context(), org); errors.Is(err, store.ErrNotFound) {
					err = fmt.Errorf("%w: %q: create it first with keyward org create %s", keyward.ErrUnknownOrg, org, org)
				}
			}
			if err == nil {
				tok, info, err = auth.Create(cmd.Context(), grants, ttl, description)
			}
			if err == nil {
				defer tok.Wipe()
			}
			// The token is printed only once its creation is durable.
			if err := a.audit(cmd.Context(), audit.Event{Org: policy.AnyOrg, Action: actionTokenCreate, Name: info.ID}, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("created token %s, but not printed: %w (revoke it with keyward token revoke %s)", info.ID, err, info.ID)
				}
				return err
			}
			if a.jsonOut {
				j := toTokenJSON(info, time.Now())
				j.Token = string(tok.Reveal())
				return a.printJSON(j)
			}
			fmt.Fprintln(a.stdout, string(tok.Reveal()))
			a.logf("created token %s (%s); it is shown once: store it now", info.ID, joinGrants(info.Grants))
			if !info.ExpiresAt.IsZero() {
				a.logf("expires %s", info.ExpiresAt.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization the grants apply to, or '*' for every organization")
	cmd.Flags().StringArrayVar(&allow, "allow", nil, "grant CAP[:PATTERN] (repeatable), e.g. decrypt:channels.* or secrets:reveal:webhooks/*")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 90d, 12h or 30m (default: never)")
	cmd.Flags().StringVar(&description, "description", "", "what the token is for (shown by token list)")
	return cmd
}

// parseLifetime reads a duration as time.ParseDuration does, plus whole
// days ("90d"); "" is no expiry.
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("--expires %q: want a duration such as 90d, 12h or 30m", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--expires %q: want a duration such as 90d, 12h or 30m", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("--expires %q: want a positive duration", s)
	}
	return d, nil
}

func joinGrants(gs []policy.Grant) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = g.String()
	}
	return strings.Join(s, " ")
}

func (a *app) tokenListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			auth, _, done, err := a.tokenAuthority(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer done()
			list, err := auth.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			if a.jsonOut {
				out := make([]tokenJSON, len(list))
				for i, t := range list {
					out[i] = toTokenJSON(t, now)
				}
				return a.printJSON(out)
			}
			if len(list) == 0 {
				a.logf("no tokens yet: keyward token create --org ORG --allow CAP[:PATTERN]")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tEXPIRES\tGRANTS\tDESCRIPTION")
			for _, t := range list {
				exp := "never"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, tokenState(t, now),
					t.CreatedAt.Format(time.RFC3339), exp, joinGrants(t.Grants), t.Description)
			}
			return tw.Flush()
		},
	}
}

func (a *app) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens by id; running servers refuse them within seconds",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("token revoke needs a token id (see keyward token list)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			auth, _, done, err := a.tokenAuthority(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer done()
			for _, id := range args {
				err := auth.Revoke(cmd.Context(), id)
				err = a.audit(cmd.Context(), audit.Event{Org: policy.AnyOrg, Action: actionTokenRevoke, Name: id}, err)
				switch {
				case errors.Is(err, errAuditUnavailable):
					return fmt.Errorf("revoked token %s, but %w", id, err)
				case errors.Is(err, policy.ErrNoSuchToken):
					return fmt.Errorf("no token %s (see keyward token list)", id)
				case err != nil:
					return err
				}
				if a.jsonOut {
					if err := a.printJSON(map[string]string{"id": id, "state": "revoked"}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(a.stdout, "revoked token %s\n", id)
			}
			return nil
		},
	}
}
