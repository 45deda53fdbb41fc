package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/policy"
	"github.com/keyward/keyward/store"
)

func (a *app) rotateKEKCmd() *cobra.Command {
	var (
		rewrapOnly bool
		batch      int
	)
	cmd := &cobra.Command{
		Use:   "kek [--rewrap-only]",
		Short: "Create a new KEK version and rewrap every data key to it, online",
		Long: `rotate kek creates a new version of the key-encryption key (local key file,
PKCS#11 token, Vault transit) and then rewraps every data key version to it, in
batches, while encryption and decryption go on, and then the audit log's key.
Field ciphertexts and audit events are not touched. If it is interrupted, run it
again with --rewrap-only: it resumes with the keys not yet moved. Afterwards
"keyward kek" shows that the old KEK version wraps nothing, and it can be
disabled.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batch < 1 {
				return usagef("--batch must be at least 1")
			}
			ctx := cmd.Context()
			eng, d, done, err := a.openAudited(ctx)
			if err != nil {
				return err
			}
			defer done()
			if !rewrapOnly {
				v, err := eng.RotateKEK(ctx)
				ev := audit.Event{Org: policy.AnyOrg, Action: actionKEKRotate, Name: eng.KEKTarget().ID, KeyVersion: v}
				if err := a.audit(ctx, ev, err); err != nil {
					if errors.Is(err, errAuditUnavailable) {
						return fmt.Errorf("rotated the kek to version %d, but %w (run keyward rotate kek --rewrap-only to move the data keys)", v, err)
					}
					return err
				}
				if !a.jsonOut {
					a.logf("kek rotated: new data keys are wrapped by version %d", v)
				}
			}
			var bar *progress
			st, err := eng.RewrapDEKs(ctx, batch, func(s keyward.RewrapStats) {
				if bar == nil {
					bar = a.newProgress("rewrapping data keys", s.Total)
				}
				bar.update(s.Rewrapped+s.Skipped, s.Total, false)
			})
			if bar != nil {
				bar.update(st.Rewrapped+st.Skipped, st.Total, true)
			}
			rewrapEv := audit.Event{Org: policy.AnyOrg, Action: actionKEKRewrap, Name: st.Target.ID, KeyVersion: st.Target.Version}
			if err != nil {
				err = a.audit(ctx, rewrapEv, err)
				return fmt.Errorf("rewrapped %d of %d data keys, then: %w (run keyward rotate kek --rewrap-only to resume)", st.Rewrapped, st.Total, err)
			}
			ak, err := rewrapAuditKey(ctx, d)
			err = a.audit(ctx, rewrapEv, err)
			if errors.Is(err, errAuditUnavailable) {
				return fmt.Errorf("rewrapped every data key and the audit key, but %w", err)
			}
			if err != nil {
				return fmt.Errorf("rewrapped every data key, but not the audit key: %w (run keyward rotate kek --rewrap-only to resume)", err)
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{
					"kek": st.Target.ID, "kek_version": st.Target.Version,
					"total": st.Total, "rewrapped": st.Rewrapped, "skipped": st.Skipped,
					"audit_key": ak,
				})
			}
			fmt.Fprintf(a.stdout, "rewrapped %d data key versions (%d changed meanwhile and were skipped); all are wrapped by %s#%d\n",
				st.Rewrapped, st.Skipped, st.Target.ID, st.Target.Version)
			switch {
			case ak == nil:
			case ak.Rewrapped:
				fmt.Fprintf(a.stdout, "rewrapped the audit key; it is wrapped by %s#%d\n", ak.KEK, ak.KEKVersion)
			default:
				fmt.Fprintf(a.stdout, "the audit key is wrapped by %s#%d already\n", ak.KEK, ak.KEKVersion)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&rewrapOnly, "rewrap-only", false, "do not create a new version; finish moving data keys and the audit key to the current one")
	cmd.Flags().IntVar(&batch, "batch", 500, "data key versions per batch")
	return cmd
}

// openDeployment opens the engine as open does, and also returns the
// deployment under it (its store and KEK), for commands that need both.
func (a *app) openDeployment(ctx context.Context) (*keyward.Engine, *config.Deployment, func(), error) {
	d, err := a.deployment(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := keyward.Open(d.Store, d.KEK, cliOptions(d.Options))
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	return eng, d, func() { eng.Close(); d.Close() }, nil
}

// auditKeyJSON reports the audit key's KEK version after a KEK rewrap.
type auditKeyJSON struct {
	KEK        string `json:"kek"`
	KEKVersion uint32 `json:"kek_version"`
	Rewrapped  bool   `json:"rewrapped"`
}

// rewrapAuditKey moves the deployment's audit key to the KEK's current
// version and reports where it is; nil when the store keeps no audit key
// (no audit log, or nothing logged yet).
func rewrapAuditKey(ctx context.Context, d *config.Deployment) (*auditKeyJSON, error) {
	as, ok := d.Store.(store.AuditStore)
	if !ok {
		return nil, nil
	}
	moved, err := audit.RewrapKey(ctx, as, d.KEK)
	if err != nil {
		return nil, err
	}
	k, err := as.AuditKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &auditKeyJSON{KEK: k.KEKID, KEKVersion: k.KEKVersion, Rewrapped: moved}, nil
}

// auditKeyKEK returns the KEK version that wraps the deployment's audit
// key; false when there is none.
func auditKeyKEK(ctx context.Context, d *config.Deployment) (store.KEKRef, bool, error) {
	as, ok := d.Store.(store.AuditStore)
	if !ok {
		return store.KEKRef{}, false, nil
	}
	k, err := as.AuditKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.KEKRef{}, false, nil
	}
	if err != nil {
		return store.KEKRef{}, false, err
	}
	return store.KEKRef{ID: k.KEKID, Version: k.KEKVersion}, true, nil
}

func (a *app) kekCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create",
		Short: "Create version 1 of the configured KEK (PKCS#11 token or local key file)",
		Long: `kek create generates the key-encryption key named by the config: inside the
HSM token for pkcs11: (non-extractable, sensitive AES-256), or a new key file for
local:. It refuses if the key exists. Cloud KMS and Vault transit keys are created
with the provider's own tools.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.confPath == "" {
				return usagef("kek create needs --config FILE naming the kek (keyward init creates the local kek of a data directory)")
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			if err := config.ProvisionKEK(cmd.Context(), c, a.getenv); err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"kek": c.KEK.URI, "version": 1})
			}
			fmt.Fprintf(a.stdout, "created %s (version 1)\n", c.KEK.URI)
			return nil
		},
	}
}

func (a *app) kekCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kek",
		Short: "Show the KEK version that wraps new data keys, and what each KEK version wraps",
		Long: `kek shows the KEK version that wraps new keys now and, for every KEK version
that still wraps something, how many keys it wraps: data key versions, imported
Fernet keys and the audit log's key (marked in the AUDIT column, and by
"audit_key": true in --json). A version that is not listed wraps nothing and can
be disabled.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			eng, d, done, err := a.openDeployment(ctx)
			if err != nil {
				return err
			}
			defer done()
			counts, err := eng.KEKCounts(ctx)
			if err != nil {
				return err
			}
			auditKEK, hasAuditKey, err := auditKeyKEK(ctx, d)
			if err != nil {
				return err
			}
			target := eng.KEKTarget()
			rows := kekRows(counts, target, auditKEK, hasAuditKey)
			if a.jsonOut {
				return a.printJSON(map[string]any{"current": map[string]any{"kek": target.ID, "version": target.Version}, "wraps": rows})
			}
			fmt.Fprintf(a.stdout, "current: %s#%d\n", target.ID, target.Version)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEK\tVERSION\tWRAPS\tAUDIT")
			for _, r := range rows {
				mark := ""
				if r.AuditKey {
					mark = "audit key"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.KEK, r.Version, r.Wraps, mark)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(a.kekCreateCmd())
	return cmd
}

// kekRow is one line of "keyward kek": what one KEK version wraps.
type kekRow struct {
	KEK      string `json:"kek"`
	Version  uint32 `json:"version"`
	Wraps    int64  `json:"wraps"`
	Current  bool   `json:"current"`
	AuditKey bool   `json:"audit_key,omitempty"`
}

// kekRows lists the key counts per KEK version with the audit key counted
// in (at auditKEK, when hasAuditKey), in order of KEK id and version.
func kekRows(counts []keyward.KEKCount, target, auditKEK store.KEKRef, hasAuditKey bool) []kekRow {
	rows := make([]kekRow, 0, len(counts)+1)
	for _, c := range counts {
		rows = append(rows, kekRow{KEK: c.KEK.ID, Version: c.KEK.Version, Wraps: c.Count, Current: c.KEK == target})
	}
	if !hasAuditKey {
		return rows
	}
	i, found := slices.BinarySearchFunc(rows, auditKEK, func(r kekRow, k store.KEKRef) int {
		return cmp.Or(strings.Compare(r.KEK, k.ID), cmp.Compare(r.Version, k.Version))
	})
	if !found {
		rows = slices.Insert(rows, i, kekRow{KEK: auditKEK.ID, Version: auditKEK.Version, Current: auditKEK == target})
	}
	rows[i].Wraps++
	rows[i].AuditKey = true
	return rows
}
