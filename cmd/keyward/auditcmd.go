package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/config"
	"github.com/keyward/keyward/store"
)

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and read the tamper-evident audit log",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("audit needs a subcommand: verify, tail or mac")
		},
	}
	cmd.AddCommand(a.auditVerifyCmd(), a.auditTailCmd(), a.auditMacCmd())
	return cmd
}

// auditStore opens the deployment and returns its audit store.
func (a *app) auditStore(ctx context.Context) (store.AuditStore, *config.Deployment, error) {
	d, err := a.deployment(ctx)
	if err != nil {
		return nil, nil, err
	}
	as, ok := d.Store.(store.AuditStore)
	if !ok {
		d.Close()
		return nil, nil, fmt.Errorf("the configured store keeps no audit log (upgrade keyward)")
	}
	return as, d, nil
}

type verifyJSON struct {
	OK       bool   `json:"ok"`
	Events   int64  `json:"events"`
	HeadSeq  int64  `json:"head_seq"`
	HeadMAC  string `json:"head_mac"`
	FirstBad int64  `json:"first_bad,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func (a *app) auditVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit log's keyed hash chain; fail naming the first bad event",
		Long: `verify recomputes the keyed hash chain of the whole audit log with the audit key
(unwrapped by the KEK) and checks it against the chain head. It exits 0 and prints
the head when the log is intact, and otherwise exits 1 naming the first bad event
and whether it was edited, is missing, was reordered or the log was truncated.

Keep the printed head (seq and MAC) outside the database: a later verify that
reports a lower seq means events were removed along with the head.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			as, d, err := a.auditStore(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			head, err := as.AuditHead(ctx)
			if err != nil {
				return err
			}
			p := a.newProgressOf("verify audit log", "events", head.Seq)
			rep, err := audit.Verify(ctx, as, d.KEK, func(n int64) { p.update(n, max(n, head.Seq), false) })
			tampered := errors.Is(err, audit.ErrTampered)
			if err == nil {
				p.update(rep.Events, max(rep.Events, head.Seq), true)
			}
			if err != nil && !tampered {
				return err
			}
			out := verifyJSON{OK: err == nil, Events: rep.Events, HeadSeq: rep.Head.Seq, HeadMAC: hex.EncodeToString(rep.Head.MAC),
				FirstBad: rep.FirstBad, Problem: rep.Problem}
			if a.jsonOut {
				if perr := a.printJSON(out); perr != nil {
					return perr
				}
			}
			if tampered {
				return fmt.Errorf("%w; the log was changed outside keyward: keep this database for investigation and compare with a backup", err)
			}
			if !a.jsonOut {
				fmt.Fprintf(a.stdout, "audit log intact: %d events; head seq %d mac %s\n", rep.Events, rep.Head.Seq, out.HeadMAC)
			}
			return nil
		},
	}
}

type eventJSON struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id,omitempty"`
	TokenID    string    `json:"token_id"`
	Org        string    `json:"org"`
	Action     string    `json:"action"`
	Name       string    `json:"name,omitempty"`
	Context    string    `json:"context,omitempty"`
	KeyVersion uint32    `json:"key_version,omitempty"`
	Outcome    string    `json:"outcome"`
	Code       string    `json:"code,omitempty"`
	ValueMAC   string    `json:"value_mac,omitempty"`
}

func (a *app) auditTailCmd() *cobra.Command {
	var (
		n        int
		follow   bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail [-n N] [--follow]",
		Short: "Print the last audit events (not verified: run audit verify for that)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 {
				return usagef("-n must not be negative")
			}
			if interval <= 0 {
				return usagef("--interval must be positive")
			}
			ctx := cmd.Context()
			as, d, err := a.auditStore(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			head, err := as.AuditHead(ctx)
			if err != nil {
				return err
			}
			after := max(0, head.Seq-int64(n))
			for {
				events, err := audit.Tail(ctx, as, after, 500)
				if err != nil {
					if follow && ctx.Err() != nil {
						return nil
					}
					return err
				}
				for _, e := range events {
					if err := a.printEvent(e); err != nil {
						return err
					}
					after = e.Seq
				}
				if len(events) == 500 {
					continue
				}
				if !follow {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil // interrupted: the normal end of --follow
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "number of events to print from the end")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often --follow polls for new events")
	return cmd
}

func (a *app) printEvent(e audit.Event) error {
	if a.jsonOut {
		return a.printJSON(eventJSON{Seq: e.Seq, Time: e.Time, RequestID: e.RequestID, TokenID: e.TokenID, Org: e.Org,
			Action: e.Action, Name: e.Name, Context: e.Context, KeyVersion: e.KeyVersion, Outcome: string(e.Outcome),
			Code: e.Code, ValueMAC: e.ValueMAC})
	}
	what := printable(e.Name)
	if e.Context != "" {
		what += " ctx=" + printable(e.Context)
	}
	line := fmt.Sprintf("%d %s %s %s org=%s %s", e.Seq, e.Time.Format(time.RFC3339Nano), printable(string(e.Outcome)),
		printable(e.Action), printable(e.Org), printable(e.TokenID))
	if what != "" {
		line += " " + what
	}
	if e.KeyVersion != 0 {
		line += fmt.Sprintf(" v%d", e.KeyVersion)
	}
	if e.Code != "" {
		line += " code=" + printable(e.Code)
	}
	if e.RequestID != "" {
		line += " req=" + printable(e.RequestID)
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

// printable returns s, quoted if it holds anything but printable
// characters or spaces: audit fields come from callers, and must not
// move the terminal's cursor or fake a line.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
