package main

// The audit trail of the bulk re-encryption commands. keyward reencrypt
// and keyward migrate decrypt and re-encrypt many rows inside the engine;
// one event per row would flood the log, so a run records two: when it
// starts (before any row is read; if that event cannot be stored the job
// does not start) and when it ends, with this run's counts. A dry run
// decrypts every row too (to prove it would convert) and is recorded the
// same way, with code dry_run. keyward scan reads ciphertext headers only
// and records nothing. docs/AUDIT.md lists the fields.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/errcode"
	"github.com/keyward/keyward/reencrypt"
	"github.com/keyward/keyward/store"
)

// codeDryRun marks the allowed events of a --dry-run.
const codeDryRun = "dry_run"

// jobAuditTimeout bounds recording the finish event, which is recorded
// even when the command was interrupted (its context canceled).
const jobAuditTimeout = 10 * time.Second

// jobAudit records one run of a re-encryption command: action is
// "reencrypt" or "migrate", org the --org or "*", target the job's target
// name ("secrets", "postgres:DB/SCHEMA.TABLE.COLUMN": never a DSN), job
// the job's id.
type jobAudit struct {
	a                *app
	action           string
	org, target, job string
	dryRun           bool
}

func (a *app) newJobAudit(kind, org string, t reencrypt.Target, dryRun bool) *jobAudit {
	j := &jobAudit{a: a, action: kind, org: org, target: t.Name(), dryRun: dryRun,
		job: reencrypt.JobIDOf(kind, t, org)}
	if j.org == "" {
		j.org = "*"
	}
	return j
}

// label is how the events name the run: the job id, or "dry-run" (a dry
// run creates no job).
func (j *jobAudit) label() string {
	if j.dryRun {
		return "dry-run"
	}
	return "job=" + j.job
}

func (j *jobAudit) event(phase string) audit.Event {
	ev := audit.Event{Org: j.org, Action: j.action + "." + phase, Name: j.target, Context: j.label()}
	if j.dryRun {
		ev.Code = codeDryRun
	}
	return ev
}

// start records that the run starts. An error means it must not start.
func (j *jobAudit) start(ctx context.Context) error {
	if err := j.a.audit(ctx, j.event("start"), nil); err != nil {
		return fmt.Errorf("%s not started: %w", j.action, err)
	}
	return nil
}

// refused records a run refused before it started (an unknown --org) and
// returns err.
func (j *jobAudit) refused(ctx context.Context, err error) error {
	return j.a.audit(ctx, j.event("start"), err)
}

// finish records the end of the run: allowed when the job completed (its
// state is done, even with failed rows: they are counted) or the dry run
// walked every row; failed with the code of runErr, the run's own error,
// otherwise. p is this run's progress. It returns nil when the event is
// stored or the run failed (a.audit then warns on stderr, and the run's
// error is what the command reports); when the run succeeded but its end
// could not be recorded, an error wrapping errAuditUnavailable.
func (j *jobAudit) finish(ctx context.Context, state store.JobState, p store.JobProgress, runErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobAuditTimeout)
	defer cancel()
	ev := j.event("finish")
	if !j.dryRun {
		if state == "" {
			state = "none" // the job was never created
		}
		ev.Context += " state=" + string(state)
	}
	ev.Context += fmt.Sprintf(" rewritten=%d current=%d skipped=%d failed=%d", p.Rewritten, p.Current, p.Skipped, p.Failed)
	if runErr != nil && !j.dryRun && state == store.JobDone {
		runErr = nil // completed; the failed rows are counted
	}
	if runErr != nil {
		_ = j.a.auditCoded(ctx, ev, runErr, jobCode(runErr))
		return nil
	}
	return j.a.audit(ctx, ev, nil)
}

// unaudited joins a run's display error and finish's: the run's own error
// wins, with a warning that its end was not recorded.
func (j *jobAudit) unaudited(runErr, auditErr error) error {
	switch {
	case auditErr == nil:
		return runErr
	case runErr != nil:
		j.a.logf("warning: %s: %s.finish %s", errAuditUnavailable, j.action, oneLine(auditErr))
		return runErr
	}
	return fmt.Errorf("%s completed, but unaudited: %w", j.action, auditErr)
}

// jobCode is the stable code of a run's error: the job outcomes of package
// reencrypt, else errcode.Code.
func jobCode(err error) string {
	switch {
	case errors.Is(err, reencrypt.ErrTooManyFailures):
		return errcode.TooManyFailures
	case errors.Is(err, reencrypt.ErrJobFailed):
		return errcode.JobFailed
	}
	return errcode.Code(err)
}
