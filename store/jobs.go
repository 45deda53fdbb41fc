package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// JobState is where a re-encryption, migration or scan job stands.
type JobState string

// The job states.
const (
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobFailed  JobState = "failed"
)

// Job is the progress of one re-encryption, migration or scan job, as
// package reencrypt records it after every batch. It names its target
// without any credential and holds no plaintext.
type Job struct {
	ID string
	// Kind is "reencrypt", "migrate" or "scan".
	Kind string
	// Target names what the job walks, e.g. "secrets" or
	// "postgres:app/public.channels.access_token".
	Target string
	// Org limits the job to one organization; empty means all.
	Org   string
	State JobState
	// Total is the number of rows the job expects to visit (an estimate
	// taken at the start); Done those visited so far, of which Rewritten
	// were re-encrypted, Current already at the active version, Skipped
	// left alone (e.g. changed by the application meanwhile and current
	// again) and Failed could not be processed.
	Total, Done, Rewritten, Current, Skipped, Failed int64
	// Error says why a failed job stopped (never a value).
	Error      string
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero while running
}

// JobReader reads job progress (GET /v1/jobs/{id}).
type JobReader interface {
	// Job returns one job, or ErrNotFound.
	Job(ctx context.Context, id string) (Job, error)
}

// ErrJobRunning reports a CreateJob for an id whose job is still running:
// resume it (ClaimChunk) or delete it first (DeleteJob, --restart).
var ErrJobRunning = errors.New("store: job is running")

// JobKey is a row key in the text form its target chose, or no bound at all
// (Set false): the start or the end of the key space. Stores keep keys as
// opaque text and never compare them; the target that wrote them does.
type JobKey struct {
	Key string
	Set bool
}

// Bound returns the key k as a set JobKey.
func Bound(k string) JobKey { return JobKey{Key: k, Set: true} }

// JobChunk is one slice of a job's key space, the unit a process leases.
// Chunks are numbered 0, 1, 2… in key order and never overlap.
type JobChunk struct {
	Job   string
	Index int
	// After is the exclusive lower bound of what is left to do: the
	// chunk's start at first, moved forward by every checkpoint.
	After JobKey
	// Upto is the inclusive upper bound; not set for the last chunk.
	Upto JobKey
	Done bool
	// Owner holds the lease until LeaseUntil (store time); empty when free.
	Owner      string
	LeaseUntil time.Time
}

// JobProgress counts rows; see Job for the meaning of each counter.
type JobProgress struct {
	Done, Rewritten, Current, Skipped, Failed int64
}

// JobFailure names a row a job could not process and why, never its value.
type JobFailure struct {
	RowID  string
	Reason string
}

// Checkpoint is what a process records after a batch of a chunk it leases.
type Checkpoint struct {
	// After is the last key of the batch: the chunk's new lower bound.
	After JobKey
	// ChunkDone marks the chunk finished (After is then ignored).
	ChunkDone bool
	// Progress is added to the job's counters.
	Progress JobProgress
	// Failures are recorded once per row id (a repeat is ignored).
	Failures []JobFailure
	// Lease renews the lease for this long from now.
	Lease time.Duration
}

// JobStore keeps re-encryption jobs, their chunks and leases, so that a job
// survives a crash of any process working on it and several processes can
// share one job. Every call is atomic.
type JobStore interface {
	JobReader
	// CreateJob records j (Kind, Target, Org, Total; the store sets State
	// running, the counters to 0 and the times) with its chunks (Index 0…
	// n-1 in order; After and Upto set, the rest ignored) and returns it.
	// An existing job with the same id is replaced if it is done or failed,
	// and refused with ErrJobRunning if it is running. No chunk, an empty
	// id or kind, or a chunk index out of order is ErrInvalidArgument.
	CreateJob(ctx context.Context, j Job, chunks []JobChunk) (Job, error)
	// DeleteJob removes a job with its chunks and failures, or returns
	// ErrNotFound.
	DeleteJob(ctx context.Context, id string) error
	// ClaimChunk leases to owner, for lease, the first chunk of a running
	// job that is not done and whose lease is free or expired; ErrNotFound
	// when there is none (all done or leased), or no such running job.
	// Concurrent claims never return the same chunk while its lease runs.
	ClaimChunk(ctx context.Context, job, owner string, lease time.Duration) (JobChunk, error)
	// Chunks returns every chunk of a job in index order (ErrNotFound for
	// an unknown job).
	Chunks(ctx context.Context, job string) ([]JobChunk, error)
	// ReleaseChunk frees the lease of a chunk if owner still holds it
	// (used to take over the chunk of a process known to be dead), else
	// ErrStale.
	ReleaseChunk(ctx context.Context, job string, index int, owner string) error
	// Checkpoint records cp for a chunk that owner leases (ErrStale if the
	// lease was lost to another owner or the chunk is done; a lease that
	// expired but was not taken over still counts), adds its progress to
	// the job, renews the lease and returns the job. When the last chunk
	// is done, the job becomes done in the same transaction. A negative
	// counter or lease is ErrInvalidArgument.
	Checkpoint(ctx context.Context, job string, index int, owner string, cp Checkpoint) (Job, error)
	// FailJob marks a running job failed with reason (never a value); a job
	// that is not running is left as it is. It returns the job.
	FailJob(ctx context.Context, id, reason string) (Job, error)
	// JobFailures returns up to limit recorded failures of a job with row
	// id greater than after (bytewise), in ascending row id order.
	JobFailures(ctx context.Context, job, after string, limit int) ([]JobFailure, error)
}

// ValidNewJob checks the arguments of CreateJob, for implementations.
func ValidNewJob(j Job, chunks []JobChunk) error {
	switch {
	case j.ID == "" || j.Kind == "":
		return fmt.Errorf("%w: job without id or kind", ErrInvalidArgument)
	case j.Total < 0:
		return fmt.Errorf("%w: negative total %d", ErrInvalidArgument, j.Total)
	case len(chunks) == 0:
		return fmt.Errorf("%w: job %q without chunks", ErrInvalidArgument, j.ID)
	}
	for i, c := range chunks {
		if c.Index != i {
			return fmt.Errorf("%w: chunk %d has index %d", ErrInvalidArgument, i, c.Index)
		}
	}
	return nil
}

// ValidCheckpoint checks the arguments of Checkpoint, for implementations.
func ValidCheckpoint(cp Checkpoint) error {
	p := cp.Progress
	if p.Done < 0 || p.Rewritten < 0 || p.Current < 0 || p.Skipped < 0 || p.Failed < 0 || cp.Lease < 0 {
		return fmt.Errorf("%w: negative count or lease in checkpoint", ErrInvalidArgument)
	}
	return nil
}
