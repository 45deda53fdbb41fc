package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/credential"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

// tableFlags name an application table's ciphertext column.
type tableFlags struct {
	dsn, passwordFile string
	spec              reencrypt.TableSpec
	fernetKeyFile     string
}

func (f *tableFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dsn, "dsn", "", "the application's database: postgres://USER@HOST:PORT/DB (no password in it)")
	fl.StringVar(&f.passwordFile, "dsn-password-file", "", "file (mode 600) holding the database password; default: PGPASSFILE or ~/.pgpass")
	fl.StringVar(&f.spec.Table, "table", "", "table (or schema.table)")
	fl.StringVar(&f.spec.Column, "column", "", "column holding the ciphertexts (text, varchar or bytea)")
	fl.StringVar(&f.spec.OrgColumn, "org-column", "", "column holding each row's organization id")
	fl.StringVar(&f.spec.IDColumn, "id-column", "", "the row's unique id column (primary key)")
	fl.StringVar(&f.spec.Context, "context", "", `encryption context of the values ("{id}" is replaced by the row id; default TABLE.COLUMN)`)
	fl.StringVar(&f.fernetKeyFile, "fernet-key-file", "", "file (mode 600) of Fernet keys, one per line, newest first, to read legacy Fernet tokens")
}

func (f *tableFlags) check() error {
	if f.spec.Table == "" || f.spec.Column == "" || f.spec.OrgColumn == "" || f.spec.IDColumn == "" {
		return usagef("--table, --column, --org-column and --id-column are required")
	}
	return nil
}

// fernetKeys reads --fernet-key-file, if given. The keys are secrets: the
// file must be private, as for every secret keyward reads.
func (a *app) fernetKeys(path string) (*reencrypt.FernetKeys, error) {
	if path == "" {
		return nil, nil
	}
	b, err := credential.Load(credential.Source{File: path}, a.getenv)
	if err != nil {
		return nil, fmt.Errorf("--fernet-key-file: %w", err)
	}
	defer b.Wipe()
	fk, err := reencrypt.ParseFernetKeys(b.Reveal())
	if err != nil {
		return nil, fmt.Errorf("--fernet-key-file %s: %w", path, err)
	}
	return fk, nil
}

func (a *app) migrateCmd() *cobra.Command {
	var (
		tf tableFlags
		jf jobFlags
	)
	cmd := &cobra.Command{
		Use:   "migrate --dsn URL --table T --column C --org-column O --id-column I",
		Short: "Re-encrypt an application table's column to each org's active key version",
		Long: `migrate walks an application's PostgreSQL table and rewrites every value of a
column (keyward ciphertexts under older key versions, or legacy Fernet tokens with
--fernet-key-file) under its organization's active key version, in batches.

It is safe while the application runs: a row is written only if it still holds
the value that was read (compare-and-swap), so the application's own writes are
never overwritten. Progress is checkpointed in keyward's store after every batch:
after a crash or kill, run the same command again and it resumes. Several
processes (on several hosts) can run the same command at once and share the work.
With --dry-run it only reports what it would change. See docs/REENCRYPT.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.check(); err != nil {
				return err
			}
			if err := jf.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			fk, err := a.fernetKeys(tf.fernetKeyFile)
			if err != nil {
				return err
			}
			pool, err := a.openAppDB(ctx, tf.dsn, tf.passwordFile, jf.workers+1)
			if err != nil {
				return err
			}
			defer pool.Close()
			tbl, err := reencrypt.OpenTable(ctx, pool, tf.spec)
			if err != nil {
				return err
			}
			eng, st, js, done, err := a.openJobs(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			conv := &reencrypt.Converter{Sealer: eng, Fernet: fk, Text: tbl.Text()}
			ja := a.newJobAudit("migrate", "", tbl, jf.dryRun)
			if jf.dryRun {
				return a.dryRun(ctx, ja, "migrate", tbl, conv, jf.batch)
			}
			opts := jf.options("migrate", "")
			sum, err := a.runJob(ctx, ja, "migrate", js, tbl, conv, opts, func(o reencrypt.Options) (reencrypt.Summary, error) {
				return reencrypt.Run(ctx, js, tbl, conv, o)
			})
			if sum.Job.State == store.JobDone {
				// Complete: record what the column references now.
				if rerr := a.recordReferences(ctx, st, tbl, eng, fk, jf.batch); rerr != nil && err == nil {
					err = rerr
				}
			}
			return err
		},
	}
	tf.add(cmd)
	jf.add(cmd, true)
	return cmd
}

func (f *jobFlags) add(cmd *cobra.Command, dry bool) {
	fl := cmd.Flags()
	if dry {
		fl.BoolVar(&f.dryRun, "dry-run", false, "report what would change; write nothing")
	}
	fl.BoolVar(&f.restart, "restart", false, "drop the job's checkpoints and start over (stop other processes on it first)")
	fl.IntVar(&f.batch, "batch", reencrypt.DefaultBatch, "rows per batch (one read, one write, one checkpoint)")
	fl.IntVar(&f.workers, "workers", 2, "chunks this process works on at once")
	fl.Int64Var(&f.maxFailures, "max-failures", reencrypt.DefaultMaxFailures, "stop once more rows than this have failed (0: at the first; -1: never)")
	fl.Float64Var(&f.maxRate, "max-rate", 0, "at most this many rows a second in this process (0: no limit)")
	fl.DurationVar(&f.lease, "lease", reencrypt.DefaultLease, "how long a chunk stays leased to a process that stopped checkpointing")
}

// dryRun walks the target without writing and prints what a run would do.
// ja records its start and its end as a dry run.
func (a *app) dryRun(ctx context.Context, ja *jobAudit, cmd string, t reencrypt.Target, conv *reencrypt.Converter, batch int) error {
	if err := ja.start(ctx); err != nil {
		return err
	}
	start := time.Now()
	total, err := t.Count(ctx)
	if err != nil {
		return ja.unaudited(err, ja.finish(ctx, "", store.JobProgress{}, err))
	}
	bar := a.newProgressOf(cmd+" --dry-run "+t.Name(), "rows", total)
	p, failures, err := reencrypt.DryRun(ctx, t, conv, batch, func(done int64) { bar.update(done, total, false) })
	bar.update(p.Done, total, true)
	if auditErr := ja.finish(ctx, "", p, err); err != nil || auditErr != nil {
		return ja.unaudited(err, auditErr)
	}
	out := summaryJSON{Target: t.Name(), State: "dry-run", DryRun: true, Total: total, Done: p.Done,
		Rewritten: p.Rewritten, Current: p.Current, Skipped: p.Skipped, Failed: p.Failed,
		Failures: failuresJSON(failures), Seconds: time.Since(start).Seconds()}
	a.printSummary(cmd, out)
	return nil
}

// referenceSetter is store.ReferenceStore's write half, which the store
// may implement.
type referenceSetter interface {
	SetReferences(ctx context.Context, source string, refs []store.Reference) error
}

// recordReferences scans the table (headers only) and records, per org,
// how many rows use each key version, if the store keeps references.
func (a *app) recordReferences(ctx context.Context, st store.Store, t reencrypt.Target, kr reencrypt.KeyRefer, fk *reencrypt.FernetKeys, batch int) error {
	rs, ok := st.(referenceSetter)
	if !ok {
		return nil
	}
	res, err := reencrypt.Scan(ctx, t, kr, fk, batch, nil)
	if err != nil {
		return fmt.Errorf("count references: %w", err)
	}
	if err := rs.SetReferences(ctx, t.Name(), reencrypt.References(t.Name(), res.Keys)); err != nil {
		return fmt.Errorf("record references: %w", err)
	}
	return nil
}

type keyCountJSON struct {
	Org     string `json:"org"`
	Kind    string `json:"kind"`
	Version uint32 `json:"version"`
	Count   int64  `json:"count"`
}

func (a *app) scanCmd() *cobra.Command {
	var (
		tf    tableFlags
		batch int
	)
	cmd := &cobra.Command{
		Use:   "scan --dsn URL --table T --column C --org-column O --id-column I",
		Short: "Count an application column's rows per organization and key version, without writing",
		Long: `scan reads every value of an application's column and counts, per organization,
the rows under each keyward key version (from the ciphertext header; nothing is
decrypted) and the Fernet tokens (per key of --fernet-key-file, when given). When
the scan completes, the counts are recorded in keyward's store as the column's
references, which retire and destroy consult.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tf.check(); err != nil {
				return err
			}
			if batch < 1 {
				return usagef("--batch must be at least 1")
			}
			ctx := cmd.Context()
			fk, err := a.fernetKeys(tf.fernetKeyFile)
			if err != nil {
				return err
			}
			pool, err := a.openAppDB(ctx, tf.dsn, tf.passwordFile, 2)
			if err != nil {
				return err
			}
			defer pool.Close()
			tbl, err := reencrypt.OpenTable(ctx, pool, tf.spec)
			if err != nil {
				return err
			}
			eng, st, _, done, err := a.openJobs(ctx, false)
			if err != nil {
				return err
			}
			defer done()
			total, err := tbl.Count(ctx)
			if err != nil {
				return err
			}
			bar := a.newProgressOf("scan "+tbl.Name(), "rows", total)
			res, err := reencrypt.Scan(ctx, tbl, eng, fk, batch, func(n int64) { bar.update(n, total, false) })
			bar.update(res.Rows, total, true)
			if err != nil {
				return fmt.Errorf("scan interrupted: %w (run it again; a scan records nothing until it completes)", err)
			}
			recorded := false
			if rs, ok := st.(referenceSetter); ok {
				if err := rs.SetReferences(ctx, tbl.Name(), reencrypt.References(tbl.Name(), res.Keys)); err != nil {
					return fmt.Errorf("record references: %w", err)
				}
				recorded = true
			}
			return a.printScan(tbl.Name(), res, recorded)
		},
	}
	tf.add(cmd)
	cmd.Flags().IntVar(&batch, "batch", reencrypt.DefaultBatch, "rows per read")
	return cmd
}

func (a *app) printScan(source string, res reencrypt.ScanResult, recorded bool) error {
	if a.jsonOut {
		keys := make([]keyCountJSON, len(res.Keys))
		for i, k := range res.Keys {
			keys[i] = keyCountJSON{k.Org, k.Kind, k.Version, k.Count}
		}
		return a.printJSON(map[string]any{"source": source, "rows": res.Rows, "null": res.Null,
			"unreadable": res.Unreadable, "keys": keys, "failures": failuresJSON(res.Failures), "recorded": recorded})
	}
	fmt.Fprintf(a.stdout, "scan %s: %d rows, %d without a value, %d unreadable\n", source, res.Rows, res.Null, res.Unreadable)
	for _, k := range res.Keys {
		switch k.Kind {
		case reencrypt.KindDEK:
			fmt.Fprintf(a.stdout, "  org %s: v%d: %d rows\n", k.Org, k.Version, k.Count)
		case reencrypt.KindFernet:
			fmt.Fprintf(a.stdout, "  org %s: imported fernet key %d: %d rows\n", k.Org, k.Version, k.Count)
		case reencrypt.KindFernetFile:
			fmt.Fprintf(a.stdout, "  org %s: fernet key on line %d of --fernet-key-file: %d rows\n", k.Org, k.Version, k.Count)
		default:
			fmt.Fprintf(a.stdout, "  org %s: fernet tokens of no known key: %d rows\n", k.Org, k.Count)
		}
	}
	for _, f := range res.Failures {
		fmt.Fprintf(a.stdout, "  unreadable: row %s: %s\n", f.RowID, f.Reason)
	}
	if !recorded {
		fmt.Fprintln(a.stdout, "  (this store keeps no reference counts; nothing recorded)")
	}
	return nil
}
