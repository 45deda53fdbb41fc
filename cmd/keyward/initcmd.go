package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/datadir"
)

func (a *app) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a data directory: embedded store and a local development KEK",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := a.dataDir()
			if err := datadir.Init(cmd.Context(), dir); err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]string{
					"data":  dir,
					"store": filepath.Join(dir, datadir.DBFile),
					"kek":   "local:" + filepath.Join(dir, datadir.KEKFile),
				})
			}
			fmt.Fprintf(a.stdout, "initialized %s\n", dir)
			fmt.Fprintf(a.stdout, "  store  %s (embedded sqlite)\n", filepath.Join(dir, datadir.DBFile))
			fmt.Fprintf(a.stdout, "  kek    %s (local key file: development only, keep it apart from backups of the store)\n", filepath.Join(dir, datadir.KEKFile))
			fmt.Fprintf(a.stdout, "next: keyward org create ORG\n")
			return nil
		},
	}
}

// noArgs rejects positional arguments with a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
