package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/audit"
)

// auditMacCmd prints the value MAC of stdin: what secret events record as
// value_mac, so an investigator holding a leaked credential can find the
// events that wrote and revealed it without the log ever holding it.
func (a *app) auditMacCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mac",
		Short: "Print the value MAC of stdin, to find a leaked value's events (value_mac)",
		Long: `Reads a value on stdin (byte for byte: no newline is stripped) and prints the
HMAC the audit log records for it as value_mac in secrets.put and
secrets.reveal events. Search for it with: keyward audit tail -n N --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			value, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20+1))
			if err != nil {
				return fmt.Errorf("read the value from stdin: %w", err)
			}
			defer clear(value)
			if len(value) > 1<<20 {
				return usagef("the value on stdin is longer than 1 MiB")
			}
			as, d, err := a.auditStore(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			l, err := audit.Open(ctx, as, d.KEK, nil)
			if err != nil {
				return fmt.Errorf("open the audit log: %w", err)
			}
			defer l.Close()
			mac := l.MAC(value)
			if a.jsonOut {
				return a.printJSON(struct {
					ValueMAC string `json:"value_mac"`
				}{mac})
			}
			_, err = fmt.Fprintln(a.stdout, mac)
			return err
		},
	}
}
