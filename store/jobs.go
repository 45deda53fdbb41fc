package store

import (
	"context"
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
