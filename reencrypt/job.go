package reencrypt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyward/keyward/store"
)

// Errors a caller decides on.
var (
	// ErrTooManyFailures reports a job stopped because more rows failed
	// than Options.MaxFailures allows; the job is marked failed.
	ErrTooManyFailures = errors.New("reencrypt: too many rows failed")
	// ErrJobFailed reports a job that another process marked failed.
	ErrJobFailed = errors.New("reencrypt: job failed")
)

// Defaults of Options.
const (
	DefaultBatch       = 2000
	DefaultLease       = 30 * time.Second
	DefaultMaxFailures = 1000
	// maxAttempts bounds how often a row the application keeps changing is
	// read again before it is left alone (it then holds the application's
	// newer value, written under the active version).
	maxAttempts = 5
	// maxReported bounds the failures a summary lists by id.
	maxReported = 100
)

// Options tune a job. The zero value selects the defaults.
type Options struct {
	// Kind is "reencrypt" or "migrate" (default "migrate").
	Kind string
	// Org is recorded with the job (a target limited to one organization).
	Org string
	// Batch is the number of rows read, converted and written at a time.
	Batch int
	// ChunkRows is the size of a lease (default: the total split in about
	// 64 chunks, at least 4 batches).
	ChunkRows int
	// Workers is the number of chunks this process works on at once
	// (default 2).
	Workers int
	// Lease is how long a chunk stays leased without a checkpoint.
	Lease time.Duration
	// MaxFailures stops the job once more rows have failed (default 1000;
	// negative: never). Failures are counted over the whole job, earlier
	// runs of a resumed job included. Its zero value means the default; to
	// stop at the first failure, set FailFast.
	MaxFailures int64
	// FailFast stops the job at the first failed row: after the batch in
	// which it failed, the other rows of that batch done. It overrides
	// MaxFailures and, like it, counts the whole job's failures: a resumed
	// job that already has failed rows stops after its first batch (use
	// Restart to start over).
	FailFast bool
	// Restart drops the job's checkpoints and starts over.
	Restart bool
	// Progress, if set, is called after every checkpoint with the job as
	// the store has it (all processes' progress), from one goroutine at a
	// time.
	Progress func(store.Job)
	// Rate, if positive, limits this process to that many rows a second
	// (to spare the application's database).
	Rate float64
	// Poll is how often a process whose chunks are all leased by others
	// looks for an expired lease or the job's end (default 500ms).
	Poll time.Duration
}

func (o *Options) defaults() {
	if o.Kind == "" {
		o.Kind = "migrate"
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	switch {
	case o.FailFast:
		o.MaxFailures = 0
	case o.MaxFailures == 0:
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
}

// failureLimitText says why a job stopped on failed rows.
func failureLimitText(maxFailures int64) string {
	if maxFailures == 0 {
		return "a row failed (fail fast)"
	}
	return fmt.Sprintf("more than %d rows failed", maxFailures)
}

// JobID is the id of the job of kind over target for org: the same target
// always gets the same id, so a restarted command resumes its job.
func JobID(kind, target, org string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + target + "\x00" + org))
	return kind + "-" + hex.EncodeToString(h[:8])
}

// JobIDOf is the id of the job of kind over t for org. A target whose rows
// could be read more than one way (an app table with another --context or
// --org-column) names the way in its JobKey, so a run with other settings
// starts a job of its own instead of resuming one whose done chunks were
// converted differently.
func JobIDOf(kind string, t Target, org string) string {
	if k, ok := t.(interface{ JobKey() string }); ok {
		return JobID(kind, k.JobKey(), org)
	}
	return JobID(kind, t.Name(), org)
}

// Summary is the outcome of Run.
type Summary struct {
	// Job is the job as the store has it at the end: every process's work.
	Job store.Job
	// Mine is what this process did.
	Mine store.JobProgress
	// Failures lists up to 100 failed rows by id, with the reason.
	Failures []store.JobFailure
	// Resumed is set when the job continued from earlier checkpoints.
	Resumed bool
}

// Run re-encrypts every row of t to its organization's active version:
// it creates the job (or resumes it, or joins the processes already on it),
// leases chunks, and converts, writes and checkpoints them batch by batch
// until no chunk is left. It returns when the job is done, with the
// summary; an error leaves the job resumable (except ErrTooManyFailures,
// which marks it failed).
func Run(ctx context.Context, js store.JobStore, t Target, conv *Converter, opts Options) (Summary, error) {
	opts.defaults()
	own, err := newOwner()
	if err != nil {
		return Summary{}, err
	}
	id := JobIDOf(opts.Kind, t, opts.Org)
	job, resumed, err := startJob(ctx, js, t, id, opts)
	if err != nil {
		return Summary{}, err
	}
	r := &runner{js: js, t: t, conv: conv, opts: opts, own: own, job: job, ended: make(chan struct{})}
	if opts.Rate > 0 {
		r.limit = rate.NewLimiter(rate.Limit(opts.Rate), opts.Batch)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range opts.Workers {
		wg.Go(func() {
			if err := r.work(ctx, own.worker(i)); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	sum := Summary{Mine: r.mine, Resumed: resumed}
	if cerr := context.Cause(ctx); cerr != nil && ctx.Err() != nil {
		// Stopped: report where the job stands (best effort; the store
		// may be what failed).
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if errors.Is(cerr, ErrTooManyFailures) {
			reason := failureLimitText(opts.MaxFailures)
			sum.Job, _ = js.FailJob(bg, id, reason)
		} else {
			sum.Job, _ = js.Job(bg, id)
		}
		sum.Failures, _ = js.JobFailures(bg, id, "", maxReported)
		return sum, cerr
	}
	if sum.Job, err = js.Job(ctx, id); err != nil {
		return sum, err
	}
	if sum.Failures, err = js.JobFailures(ctx, id, "", maxReported); err != nil {
		return sum, err
	}
	if sum.Job.State == store.JobFailed {
		return sum, fmt.Errorf("%w: %s", ErrJobFailed, sum.Job.Error)
	}
	return sum, nil
}

// startJob resumes the running job id, or creates it: counted and split.
func startJob(ctx context.Context, js store.JobStore, t Target, id string, opts Options) (store.Job, bool, error) {
	if opts.Restart {
		if err := js.DeleteJob(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Job{}, false, err
		}
	}
	for {
		j, err := js.Job(ctx, id)
		switch {
		case err == nil && j.State == store.JobRunning:
			return j, true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return store.Job{}, false, err
		}
		total, err := t.Count(ctx)
		if err != nil {
			return store.Job{}, false, err
		}
		size := opts.ChunkRows
		if size <= 0 {
			size = max(int(total/64), 4*opts.Batch)
		}
		chunks, err := t.Split(ctx, size)
		if err != nil {
			return store.Job{}, false, err
		}
		j, err = js.CreateJob(ctx, store.Job{ID: id, Kind: opts.Kind, Target: t.Name(), Org: opts.Org, Total: total}, chunks)
		if errors.Is(err, store.ErrJobRunning) {
			continue // another process created it first: join it
		}
		return j, false, err
	}
}

type runner struct {
	js   store.JobStore
	t    Target
	conv *Converter
	opts Options
	own  owner
	job  store.Job
	// limit paces the rows read, if Options.Rate is set.
	limit *rate.Limiter

	mu   sync.Mutex // guards mine and ended, and serialises Progress
	mine store.JobProgress
	// ended is closed (and replaced) whenever one of this process's
	// workers leaves a chunk, so its other workers waiting for a chunk
	// look again at once instead of after Options.Poll: a job whose last
	// chunk another worker here finished ends without a poll's delay.
	ended chan struct{}
}

// chunkEnded wakes this process's workers waiting in waitForChunk.
func (r *runner) chunkEnded() {
	r.mu.Lock()
	close(r.ended)
	r.ended = make(chan struct{})
	r.mu.Unlock()
}

// endedCh returns the channel the next chunkEnded closes.
func (r *runner) endedCh() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// work claims chunks and walks them until the job is done.
func (r *runner) work(ctx context.Context, me string) error {
	for {
		c, err := r.js.ClaimChunk(ctx, r.job.ID, me, r.opts.Lease)
		if errors.Is(err, store.ErrNotFound) {
			done, err := r.waitForChunk(ctx)
			if done || err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		err = r.walk(ctx, c, me)
		if err != nil && !errors.Is(err, store.ErrStale) {
			// Stopping (interrupted, or an error): hand the chunk back at
			// once rather than when the lease expires. Best effort: a
			// store that is down lets the lease expire instead.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = r.js.ReleaseChunk(rctx, r.job.ID, c.Index, me)
			cancel()
		}
		r.chunkEnded() // after the release, so a woken worker can claim it
		if err != nil && !errors.Is(err, store.ErrStale) {
			return err
		}
		// Done, or the lease was lost to another process, which carries on.
	}
}

// waitForChunk is called when no chunk is free: it reports done when the
// job is finished, takes over chunks of dead processes on this host, and
// otherwise waits a poll interval for an expired lease.
func (r *runner) waitForChunk(ctx context.Context) (bool, error) {
	ended := r.endedCh() // before reading the job: no wake-up is lost
	j, err := r.js.Job(ctx, r.job.ID)
	if err != nil {
		return false, err
	}
	if j.State != store.JobRunning {
		return true, nil
	}
	chunks, err := r.js.Chunks(ctx, r.job.ID)
	if err != nil {
		return false, err
	}
	released := false
	for _, c := range chunks {
		if !c.Done && c.Owner != "" && r.own.deadLocal(c.Owner) {
			if err := r.js.ReleaseChunk(ctx, r.job.ID, c.Index, c.Owner); err == nil {
				released = true
			} else if !errors.Is(err, store.ErrStale) {
				return false, err
			}
		}
	}
	if released {
		return false, nil
	}
	select {
	case <-ctx.Done():
		return false, context.Cause(ctx)
	case <-time.After(r.opts.Poll):
	case <-ended:
	}
	return false, nil
}

// walk processes chunk c batch by batch, checkpointing after each.
func (r *runner) walk(ctx context.Context, c store.JobChunk, me string) error {
	after := c.After
	for {
		if r.limit != nil {
			if err := r.limit.WaitN(ctx, r.opts.Batch); err != nil {
				return err
			}
		}
		rows, err := r.t.Read(ctx, after, c.Upto, r.opts.Batch)
		if err != nil {
			return err
		}
		p, failures, err := r.batch(ctx, rows)
		if err != nil {
			return err
		}
		cp := store.Checkpoint{Progress: p, Failures: failures, Lease: r.opts.Lease, ChunkDone: len(rows) < r.opts.Batch}
		if len(rows) > 0 {
			after = store.Bound(rows[len(rows)-1].Key)
			cp.After = after
		}
		j, err := r.js.Checkpoint(ctx, r.job.ID, c.Index, me, cp)
		if err != nil {
			return err
		}
		r.mu.Lock()
		add(&r.mine, p)
		if r.opts.Progress != nil {
			r.opts.Progress(j)
		}
		r.mu.Unlock()
		if r.opts.MaxFailures >= 0 && j.Failed > r.opts.MaxFailures {
			return ErrTooManyFailures
		}
		if j.State == store.JobFailed {
			return fmt.Errorf("%w: %s", ErrJobFailed, j.Error)
		}
		if cp.ChunkDone {
			return nil
		}
	}
}

func add(to *store.JobProgress, p store.JobProgress) {
	to.Done += p.Done
	to.Rewritten += p.Rewritten
	to.Current += p.Current
	to.Skipped += p.Skipped
	to.Failed += p.Failed
}

// batch converts and writes one batch of rows. Rows that lost their
// compare-and-swap (the application wrote them meanwhile) are read again
// and converted again; their fresh value is never overwritten.
func (r *runner) batch(ctx context.Context, rows []Row) (store.JobProgress, []store.JobFailure, error) {
	p := store.JobProgress{Done: int64(len(rows))}
	var failures []store.JobFailure
	pending := rows
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxAttempts {
			p.Skipped += int64(len(pending))
			break
		}
		updates := make([]Update, 0, len(pending))
		for _, row := range pending {
			if row.Value == nil {
				p.Skipped++
				continue
			}
			out, changed, err := r.conv.Convert(ctx, row.Org, row.Value, r.t.Context(row))
			if err != nil {
				reason, fatal := rowError(row.Value, err)
				if fatal {
					return p, nil, err
				}
				p.Failed++
				failures = append(failures, store.JobFailure{RowID: sanitize(row.ID), Reason: reason})
				continue
			}
			if !changed {
				if attempt == 0 {
					p.Current++
				} else {
					p.Skipped++
				}
				continue
			}
			updates = append(updates, Update{Key: row.Key, ID: row.ID, Org: row.Org, Old: row.Value, New: out})
		}
		if len(updates) == 0 {
			break
		}
		ok, err := r.t.Swap(ctx, updates)
		if err != nil {
			return p, nil, err
		}
		var lost []string
		for i, u := range updates {
			if ok[i] {
				p.Rewritten++
			} else {
				lost = append(lost, u.Key)
			}
		}
		if len(lost) == 0 {
			break
		}
		if pending, err = r.t.Get(ctx, lost); err != nil {
			return p, nil, err
		}
		p.Skipped += int64(len(lost) - len(pending)) // deleted meanwhile
	}
	return p, failures, nil
}

// sanitize keeps a reason storable: valid UTF-8, one line.
func sanitize(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
}
