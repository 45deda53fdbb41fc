package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/config"
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
batches, while encryption and decryption go on. Field ciphertexts are not
touched. If it is interrupted, run it again with --rewrap-only: it resumes with
the keys not yet moved. Afterwards "keyward kek" shows that the old KEK version
wraps nothing, and it can be disabled.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batch < 1 {
				return usagef("--batch must be at least 1")
			}
			ctx := cmd.Context()
			eng, done, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer done()
			if !rewrapOnly {
				v, err := eng.RotateKEK(ctx)
				if err != nil {
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
			if err != nil {
				return fmt.Errorf("rewrapped %d of %d data keys, then: %w (run keyward rotate kek --rewrap-only to resume)", st.Rewrapped, st.Total, err)
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{
					"kek": st.Target.ID, "kek_version": st.Target.Version,
					"total": st.Total, "rewrapped": st.Rewrapped, "skipped": st.Skipped,
				})
			}
			fmt.Fprintf(a.stdout, "rewrapped %d data key versions (%d changed meanwhile and were skipped); all are wrapped by %s#%d\n",
				st.Rewrapped, st.Skipped, st.Target.ID, st.Target.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rewrapOnly, "rewrap-only", false, "do not create a new version; finish moving data keys to the current one")
	cmd.Flags().IntVar(&batch, "batch", 500, "data key versions per batch")
	return cmd
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
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, done, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			counts, err := eng.KEKCounts(cmd.Context())
			if err != nil {
				return err
			}
			target := eng.KEKTarget()
			type row struct {
				KEK     string `json:"kek"`
				Version uint32 `json:"version"`
				Wraps   int64  `json:"wraps"`
				Current bool   `json:"current"`
			}
			rows := make([]row, 0, len(counts))
			for _, c := range counts {
				rows = append(rows, row{c.KEK.ID, c.KEK.Version, c.Count, c.KEK == target})
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"current": map[string]any{"kek": target.ID, "version": target.Version}, "wraps": rows})
			}
			fmt.Fprintf(a.stdout, "current: %s#%d\n", target.ID, target.Version)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEK\tVERSION\tWRAPS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", r.KEK, r.Version, r.Wraps)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(a.kekCreateCmd())
	return cmd
}
