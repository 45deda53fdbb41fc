package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

type keyJSON struct {
	Version    uint32    `json:"version"`
	State      string    `json:"state"`
	KEK        string    `json:"kek"`
	KEKVersion uint32    `json:"kek_version"`
	Usage      uint64    `json:"usage"`
	References int64     `json:"references"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

type fernetKeyJSON struct {
	ID          uint32    `json:"id"`
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Fingerprint string    `json:"fingerprint"`
	KEK         string    `json:"kek"`
	KEKVersion  uint32    `json:"kek_version"`
	References  int64     `json:"references"`
	CreatedAt   time.Time `json:"created_at"`
}

type referenceJSON struct {
	Source    string    `json:"source"`
	Key       string    `json:"key"`
	Count     int64     `json:"count"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func (a *app) keysCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "keys --org ORG",
		Short: "Show an organization's keys: versions, states, usage, references",
		Long: `keys lists the organization's data key versions and imported Fernet keys with
their states, usage and references: how many rows still use each key (the
secret store's rows exactly; an app table's as its last complete scan or
migration counted them).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usagef("keys needs --org ORG")
			}
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return a.printKeys(cmd.Context(), eng, org)
		},
	}
	cmd.PersistentFlags().StringVar(&org, "org", "", "organization id")
	cmd.AddCommand(
		a.keyStateCmd(&org, "retire", "Refuse decryption under a key (reversible with reinstate); refused while rows use it"),
		a.keyStateCmd(&org, "reinstate", "Let a retired key decrypt again"),
		a.keyStateCmd(&org, "destroy", "Erase a key: its data becomes unrecoverable; refused while rows use it"),
	)
	return cmd
}

func (a *app) printKeys(ctx context.Context, eng *keyward.Engine, org string) error {
	keys, err := eng.Keys(ctx, org)
	if err != nil {
		return err
	}
	legacy, err := eng.FernetKeys(ctx, org)
	if err != nil {
		return err
	}
	refs, err := eng.References(ctx, org)
	if err != nil {
		return err
	}
	total := map[keyward.KeyRef]int64{}
	refsOut := make([]referenceJSON, len(refs))
	for i, r := range refs {
		total[r.Key] += r.Count
		refsOut[i] = referenceJSON{r.Source, keyward.KeyName(r.Key), r.Count, r.UpdatedAt}
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = keyJSON{k.Version, string(k.State), k.KEKID, k.KEKVersion, k.Usage,
			total[keyward.KeyRef{Kind: keyward.KindDEK, Version: k.Version}], k.CreatedAt, k.UpdatedAt}
	}
	fout := make([]fernetKeyJSON, len(legacy))
	for i, k := range legacy {
		ref := keyward.KeyRef{Kind: keyward.KindFernet, Version: k.ID}
		fout[i] = fernetKeyJSON{k.ID, keyward.KeyName(ref), string(k.State), k.Fingerprint, k.KEKID, k.KEKVersion, total[ref], k.CreatedAt}
	}
	if a.jsonOut {
		return a.printJSON(struct {
			Org        string          `json:"org"`
			Keys       []keyJSON       `json:"keys"`
			FernetKeys []fernetKeyJSON `json:"fernet_keys"`
			References []referenceJSON `json:"references"`
		}{org, out, fout, refsOut})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tUSAGE\tREFS\tKEK\tCREATED")
	for _, k := range out {
		fmt.Fprintf(tw, "v%d\t%s\t%d\t%d\t%s#%d\t%s\n", k.Version, k.State, k.Usage, k.References, k.KEK, k.KEKVersion, k.CreatedAt.Format(time.RFC3339))
	}
	for _, k := range fout {
		fmt.Fprintf(tw, "%s\t%s\t-\t%d\t%s#%d\t%s\n", k.Name, k.State, k.References, k.KEK, k.KEKVersion, k.CreatedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(refsOut) > 0 {
		fmt.Fprintln(a.stdout)
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REFERENCED BY\tKEY\tROWS\tCOUNTED")
		for _, r := range refsOut {
			counted := "now"
			if !r.UpdatedAt.IsZero() {
				counted = r.UpdatedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Source, r.Key, r.Count, counted)
		}
		return tw.Flush()
	}
	return nil
}

// keyStateCmd builds keys retire, reinstate and destroy.
func (a *app) keyStateCmd(org *string, name, short string) *cobra.Command {
	var yes, force, allUnused bool
	use := name + " (VERSION | fernet:ID) --org ORG"
	if name == "retire" {
		use += " | retire --all-unused --org ORG"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

VERSION is a data key version (2 or v2); fernet:ID an imported Fernet key (see
keyward fernet list). retire and destroy refuse a key that rows still use, as
keyward keys --org shows; --force goes ahead and says what is lost.`,
		Args: func(_ *cobra.Command, args []string) error {
			if allUnused && len(args) == 0 {
				return nil
			}
			if len(args) != 1 || allUnused {
				return usagef("keys %s needs one VERSION or fernet:ID, e.g. keys %s 1 --org ORG", name, name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if *org == "" {
				return usagef("keys %s needs --org ORG", name)
			}
			if allUnused {
				return a.retireUnused(ctx, *org)
			}
			key, err := parseKeyRef(args[0])
			if err != nil {
				return err
			}
			if name == "destroy" && !yes {
				if err := a.confirm(fmt.Sprintf("destroy %s of org %s? data encrypted under it becomes unrecoverable", keyward.KeyName(key), *org), *org); err != nil {
					return err
				}
			}
			eng, _, done, err := a.openAudited(ctx)
			if err != nil {
				return err
			}
			defer done()
			var opts []keyward.KeyOption
			if force && name != "reinstate" {
				if err := a.warnForced(ctx, eng, *org, name, key); err != nil {
					return err
				}
				opts = append(opts, keyward.Force())
			}
			err = keyOp(ctx, eng, name, *org, key, opts)
			ev := keyEvent(name, *org, key)
			if force && name != "reinstate" {
				ev.Code = codeForced // replaced by the error's code if it failed
			}
			if err := a.audit(ctx, ev, err); err != nil {
				if errors.Is(err, errAuditUnavailable) {
					return fmt.Errorf("%s org %s %s, but %w", pastTense(name), *org, keyward.KeyName(key), err)
				}
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"org": *org, "key": keyward.KeyName(key), "action": name, "forced": force})
			}
			fmt.Fprintf(a.stdout, "%s: org %s %s\n", pastTense(name), *org, keyward.KeyName(key))
			return nil
		},
	}
	if name != "reinstate" {
		cmd.Flags().BoolVar(&force, "force", false, "go ahead although rows still use the key (they stop decrypting)")
	}
	if name == "destroy" {
		cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (for scripts)")
	}
	if name == "retire" {
		cmd.Flags().BoolVar(&allUnused, "all-unused", false, "retire every decrypt-only key that no row uses (after a complete re-encryption)")
	}
	return cmd
}

// keyEvent is the audit event of a key state change (retire, reinstate,
// destroy): the key's name, and for a data key its version.
func keyEvent(op, org string, key keyward.KeyRef) audit.Event {
	action := actionKeysDestroy
	switch op {
	case "retire":
		action = actionKeysRetire
	case "reinstate":
		action = actionKeysReinstate
	}
	ev := audit.Event{Org: org, Action: action, Name: keyward.KeyName(key)}
	if key.Kind == keyward.KindDEK {
		ev.KeyVersion = key.Version
	}
	return ev
}

// keyOp runs one state change on a DEK version or Fernet key.
func keyOp(ctx context.Context, eng *keyward.Engine, name, org string, key keyward.KeyRef, opts []keyward.KeyOption) error {
	fernetKey := key.Kind == keyward.KindFernet
	switch {
	case name == "retire" && fernetKey:
		return eng.RetireFernetKey(ctx, org, key.Version, opts...)
	case name == "retire":
		return eng.RetireKey(ctx, org, key.Version, opts...)
	case name == "reinstate" && fernetKey:
		return eng.ReinstateFernetKey(ctx, org, key.Version)
	case name == "reinstate":
		return eng.ReinstateKey(ctx, org, key.Version)
	case name == "destroy" && fernetKey:
		return eng.DestroyFernetKey(ctx, org, key.Version, opts...)
	default:
		return eng.DestroyKey(ctx, org, key.Version, opts...)
	}
}

// warnForced says on stderr what a forced retire or destroy loses.
func (a *app) warnForced(ctx context.Context, eng *keyward.Engine, org, name string, key keyward.KeyRef) error {
	refs, err := eng.ReferencesTo(ctx, org, key)
	if err != nil || len(refs) == 0 {
		return err
	}
	what := "will stop decrypting until you reinstate it"
	if name == "destroy" {
		what = "will be unrecoverable"
	}
	a.logf("forced: %s still in use by org %s %s %s", keyward.DescribeRefs(refs), org, keyward.KeyName(key), what)
	return nil
}

func (a *app) retireUnused(ctx context.Context, org string) error {
	eng, _, done, err := a.openAudited(ctx)
	if err != nil {
		return err
	}
	defer done()
	retired, err := eng.RetireUnused(ctx, org)
	names := make([]string, len(retired))
	for i, r := range retired {
		names[i] = keyward.KeyName(r)
		if aerr := a.audit(ctx, keyEvent("retire", org, r), nil); aerr != nil {
			return fmt.Errorf("retired %s, but %w", strings.Join(names[:i+1], ", "), aerr)
		}
	}
	if err != nil {
		// Which key failed is not known: the event names the command.
		err = a.audit(ctx, audit.Event{Org: org, Action: actionKeysRetire, Name: "all-unused"}, err)
		return fmt.Errorf("retired %s, then: %w", strings.Join(names, ", "), err)
	}
	if a.jsonOut {
		return a.printJSON(map[string]any{"org": org, "retired": names})
	}
	if len(names) == 0 {
		fmt.Fprintf(a.stdout, "org %s: no unused decrypt-only key to retire\n", org)
		return nil
	}
	fmt.Fprintf(a.stdout, "retired: org %s %s (reinstate with keys reinstate KEY)\n", org, strings.Join(names, " "))
	return nil
}

// parseKeyRef parses "3", "v3" or "fernet:1".
func parseKeyRef(s string) (keyward.KeyRef, error) {
	if id, ok := strings.CutPrefix(s, "fernet:"); ok {
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil || n == 0 {
			return keyward.KeyRef{}, usagef("invalid fernet key %q (want fernet:ID with ID from 1, see keyward fernet list)", s)
		}
		return keyward.KeyRef{Kind: keyward.KindFernet, Version: uint32(n)}, nil
	}
	v, err := parseVersion(s)
	return keyward.KeyRef{Kind: keyward.KindDEK, Version: v}, err
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
