package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

// jobFlags are the flags every re-encryption command shares.
type jobFlags struct {
	dryRun      bool
	restart     bool
	batch       int
	workers     int
	maxFailures int64
	lease       time.Duration
	maxRate     float64
}

func (f *jobFlags) options(kind, org string) reencrypt.Options {
	return reencrypt.Options{Kind: kind, Org: org, Batch: f.batch, Workers: f.workers,
		MaxFailures: f.maxFailures, FailFast: f.maxFailures == 0, Lease: f.lease, Restart: f.restart, Rate: f.maxRate}
}

func (f *jobFlags) check() error {
	switch {
	case f.batch < 1:
		return usagef("--batch must be at least 1")
	case f.workers < 1:
		return usagef("--workers must be at least 1")
	case f.maxRate < 0:
		return usagef("--max-rate must not be negative")
	case f.lease < time.Second:
		return usagef("--lease must be at least 1s")
	case f.maxFailures < -1:
		return usagef("--max-failures must be at least 0 (the job stops once more rows than that failed; 0: at the first), or -1 for never")
	}
	return nil
}

// failureJSON names a failed row; never its value.
type failureJSON struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// summaryJSON is the last line of --json output of migrate, reencrypt and a
// dry run.
type summaryJSON struct {
	Job       string        `json:"job,omitempty"`
	Target    string        `json:"target"`
	State     string        `json:"state"`
	DryRun    bool          `json:"dry_run,omitempty"`
	Resumed   bool          `json:"resumed,omitempty"`
	Total     int64         `json:"total"`
	Done      int64         `json:"done"`
	Rewritten int64         `json:"rewritten"`
	Current   int64         `json:"current"`
	Skipped   int64         `json:"skipped"`
	Failed    int64         `json:"failed"`
	Mine      *mineJSON     `json:"this_process,omitempty"`
	Failures  []failureJSON `json:"failures"`
	Seconds   float64       `json:"seconds"`
	Rate      float64       `json:"rate"`
}

type mineJSON struct {
	Done      int64 `json:"done"`
	Rewritten int64 `json:"rewritten"`
	Current   int64 `json:"current"`
	Skipped   int64 `json:"skipped"`
	Failed    int64 `json:"failed"`
}

func failuresJSON(fs []store.JobFailure) []failureJSON {
	out := make([]failureJSON, len(fs))
	for i, f := range fs {
		out[i] = failureJSON{f.RowID, f.Reason}
	}
	return out
}

// runJob runs a re-encryption job with progress, prints its summary and
// returns an error if it did not complete or rows failed.
// ja records its start (before any row is read: a start that cannot be
// recorded stops it) and its end.
func (a *app) runJob(ctx context.Context, ja *jobAudit, cmd string, js store.JobStore, t reencrypt.Target, conv *reencrypt.Converter, opts reencrypt.Options, ctxRun func(reencrypt.Options) (reencrypt.Summary, error)) (reencrypt.Summary, error) {
	if err := ja.start(ctx); err != nil {
		return reencrypt.Summary{}, err
	}
	start := time.Now()
	var bar *progress
	opts.Progress = func(j store.Job) {
		if bar == nil {
			bar = a.newProgressOf(cmd+" "+t.Name(), "rows", j.Total)
			bar.start = start
			if resumed := j.Done - int64(opts.Batch); resumed > 0 {
				bar.base = resumed
			}
		}
		bar.update(j.Done, j.Total, false)
	}
	sum, err := ctxRun(opts)
	if bar != nil {
		bar.update(sum.Job.Done, sum.Job.Total, true)
	}
	elapsed := time.Since(start).Seconds()
	j := sum.Job
	auditErr := ja.finish(ctx, j.State, sum.Mine, err)
	if j.ID == "" && err != nil {
		return sum, ja.unaudited(err, auditErr)
	}
	m := sum.Mine
	out := summaryJSON{Job: j.ID, Target: t.Name(), State: string(j.State), Resumed: sum.Resumed,
		Total: j.Total, Done: j.Done, Rewritten: j.Rewritten, Current: j.Current, Skipped: j.Skipped, Failed: j.Failed,
		Mine:     &mineJSON{m.Done, m.Rewritten, m.Current, m.Skipped, m.Failed},
		Failures: failuresJSON(sum.Failures), Seconds: elapsed}
	if elapsed > 0 {
		out.Rate = float64(m.Done) / elapsed
	}
	a.printSummary(cmd, out)
	return sum, ja.unaudited(jobError(cmd, j, opts, err), auditErr)
}

// jobError is what a job run reports: err explained, or the failed rows of
// a job that completed.
func jobError(cmd string, j store.Job, opts reencrypt.Options, err error) error {
	if err != nil {
		if errors.Is(err, reencrypt.ErrTooManyFailures) {
			what := fmt.Sprintf("more than %d rows failed", opts.MaxFailures)
			if opts.FailFast {
				what = "a row failed"
			}
			return fmt.Errorf("%s stopped: %s (ids above); fix them or raise --max-failures, then run it again", cmd, what)
		}
		return fmt.Errorf("%s interrupted: %w (run the same command again to resume)", cmd, err)
	}
	if j.Failed > 0 {
		return fmt.Errorf("%s finished, but %d rows failed (ids above) and were left as they are", cmd, j.Failed)
	}
	return nil
}

// printSummary prints the summary for humans on stdout, or as one JSON line.
func (a *app) printSummary(cmd string, s summaryJSON) {
	if a.jsonOut {
		_ = a.printJSON(s)
		return
	}
	what := "job " + s.Job
	if s.DryRun {
		what = "dry run (nothing written)"
		fmt.Fprintf(a.stdout, "%s %s: %s\n", cmd, s.Target, what)
		fmt.Fprintf(a.stdout, "  rows %d: %d would be rewritten, %d already current, %d skipped (no value), %d would fail\n",
			s.Done, s.Rewritten, s.Current, s.Skipped, s.Failed)
	} else {
		fmt.Fprintf(a.stdout, "%s %s: %s %s\n", cmd, s.Target, what, s.State)
		fmt.Fprintf(a.stdout, "  rows %d of %d: %d rewritten, %d already current, %d skipped, %d failed\n",
			s.Done, s.Total, s.Rewritten, s.Current, s.Skipped, s.Failed)
		if s.Mine != nil {
			fmt.Fprintf(a.stdout, "  this process: %d rows in %.1fs (%.0f rows/s)\n", s.Mine.Done, s.Seconds, s.Rate)
		}
	}
	for _, f := range s.Failures {
		fmt.Fprintf(a.stdout, "  failed: row %s: %s\n", f.ID, f.Reason)
	}
	if int64(len(s.Failures)) < s.Failed {
		fmt.Fprintf(a.stdout, "  … and %d more failed rows\n", s.Failed-int64(len(s.Failures)))
	}
}
