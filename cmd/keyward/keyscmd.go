package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

type keyJSON struct {
	Version    uint32    `json:"version"`
	State      string    `json:"state"`
	KEK        string    `json:"kek"`
	KEKVersion uint32    `json:"kek_version"`
	Usage      uint64    `json:"usage"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (a *app) keysCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "keys --org ORG",
		Short: "Show an organization's data key versions and their states",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("keys needs --org ORG")
			}
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			keys, err := eng.Keys(cmd.Context(), org)
			if err != nil {
				return err
			}
			out := make([]keyJSON, len(keys))
			for i, k := range keys {
				out[i] = keyJSON{k.Version, string(k.State), k.KEKID, k.KEKVersion, k.Usage, k.CreatedAt, k.UpdatedAt}
			}
			if a.jsonOut {
				return a.printJSON(struct {
					Org  string    `json:"org"`
					Keys []keyJSON `json:"keys"`
				}{org, out})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTATE\tUSAGE\tKEK\tCREATED")
			for _, k := range out {
				fmt.Fprintf(tw, "v%d\t%s\t%d\t%s#%d\t%s\n", k.Version, k.State, k.Usage, k.KEK, k.KEKVersion, k.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.PersistentFlags().StringVar(&org, "org", "", "organization id")
	cmd.AddCommand(
		a.keyStateCmd(&org, "retire", "Refuse decryption under VERSION (reversible with reinstate)", (*keyward.Engine).RetireKey, false),
		a.keyStateCmd(&org, "reinstate", "Let a retired VERSION decrypt again", (*keyward.Engine).ReinstateKey, false),
		a.keyStateCmd(&org, "destroy", "Erase VERSION's key: its data becomes unrecoverable", (*keyward.Engine).DestroyKey, true),
	)
	return cmd
}

// keyOp is one of the engine's key-state operations.
type keyOp func(*keyward.Engine, context.Context, string, uint32) error

func (a *app) keyStateCmd(org *string, name, short string, op keyOp, confirm bool) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   name + " VERSION --org ORG",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("keys %s needs one VERSION, e.g. keys %s 1 --org ORG", name, name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if *org == "" {
				return usagef("keys %s needs --org ORG", name)
			}
			v, err := parseVersion(args[0])
			if err != nil {
				return err
			}
			if confirm && !yes {
				if err := a.confirm(fmt.Sprintf("destroy version %d of org %s? data encrypted under it becomes unrecoverable", v, *org), *org); err != nil {
					return err
				}
			}
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := op(eng, cmd.Context(), *org, v); err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"org": *org, "version": v, "action": name})
			}
			fmt.Fprintf(a.stdout, "%s: org %s version %d\n", pastTense(name), *org, v)
			return nil
		},
	}
	if confirm {
		cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (for scripts)")
	}
	return cmd
}

func pastTense(verb string) string {
	if strings.HasSuffix(verb, "e") {
		return verb + "d"
	}
	return verb + "ed"
}

// parseVersion parses a key version as "3" or "v3".
func parseVersion(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "v"), 10, 32)
	if err != nil || n == 0 {
		return 0, usagef("invalid key version %q (want a number from 1, e.g. 2 or v2)", s)
	}
	return uint32(n), nil
}

// confirm asks the operator on a terminal to type want; without a terminal
// it refuses and names --yes.
func (a *app) confirm(question, want string) error {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return fmt.Errorf("refusing without confirmation: pass --yes")
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("refusing without confirmation: stdin is not a terminal; pass --yes")
	}
	fmt.Fprintf(a.stderr, "%s\ntype %q to confirm: ", question, want)
	line, _ := bufio.NewReader(f).ReadString('\n')
	if strings.TrimSpace(line) != want {
		return fmt.Errorf("not confirmed; nothing changed")
	}
	return nil
}
