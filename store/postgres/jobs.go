package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

var _ store.JobStore = (*Store)(nil)

const jobColumns = `id, kind, target, org, state, total, done, rewritten, current, skipped, failed,
	error, started_at, updated_at, finished_at`

func scanJob(r pgx.Row) (store.Job, error) {
	var (
		j        store.Job
		state    string
		finished *time.Time
	)
	if err := r.Scan(&j.ID, &j.Kind, &j.Target, &j.Org, &state, &j.Total, &j.Done, &j.Rewritten,
		&j.Current, &j.Skipped, &j.Failed, &j.Error, &j.StartedAt, &j.UpdatedAt, &finished); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Job{}, store.ErrNotFound
		}
		return store.Job{}, err
	}
	j.State = store.JobState(state)
	j.StartedAt, j.UpdatedAt = utc(j.StartedAt), utc(j.UpdatedAt)
	if finished != nil {
		j.FinishedAt = utc(*finished)
	}
	return j, nil
}

func keyArg(k store.JobKey) *string {
	if !k.Set {
		return nil
	}
	return &k.Key
}

func keyOf(p *string) store.JobKey {
	if p == nil {
		return store.JobKey{}
	}
	return store.Bound(*p)
}

const chunkColumns = `job_id, idx, after_key, upto_key, done, owner, lease_until`

func scanChunk(r pgx.Row) (store.JobChunk, error) {
	var (
		c           store.JobChunk
		after, upto *string
		owner       *string
		lease       *time.Time
		idx         int32
	)
	if err := r.Scan(&c.Job, &idx, &after, &upto, &c.Done, &owner, &lease); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.JobChunk{}, store.ErrNotFound
		}
		return store.JobChunk{}, err
	}
	c.Index, c.After, c.Upto = int(idx), keyOf(after), keyOf(upto)
	if owner != nil {
		c.Owner = *owner
	}
	if lease != nil {
		c.LeaseUntil = utc(*lease)
	}
	return c, nil
}

// storableAll reports a string that PostgreSQL text cannot hold.
func storableAll(ss ...string) error {
	for _, s := range ss {
		if !storable(s) {
			return errf(store.ErrInvalidArgument, "%q is not UTF-8 without NUL bytes", s)
		}
	}
	return nil
}

// Job implements store.JobReader.
func (s *Store) Job(ctx context.Context, id string) (store.Job, error) {
	op := fmt.Sprintf("read job %q", id)
	if !storable(id) {
		return store.Job{}, s.fail(ctx, op, store.ErrNotFound)
	}
	if err := s.begin(ctx); err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	return j, nil
}

// CreateJob implements store.JobStore. The existing job's row is locked
// first, so two processes creating the same job at once are serialised:
// the second sees the first's running job.
func (s *Store) CreateJob(ctx context.Context, j store.Job, chunks []store.JobChunk) (store.Job, error) {
	op := fmt.Sprintf("create job %q", j.ID)
	err := store.ValidNewJob(j, chunks)
	if err == nil {
		err = storableAll(j.ID, j.Kind, j.Target, j.Org)
	}
	for _, c := range chunks {
		if err == nil {
			err = storableAll(c.After.Key, c.Upto.Key)
		}
	}
	if err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	var out store.Job
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		// Serialise creators of the same id, also when none exists yet.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('keyward-job:' || $1, 0))`, j.ID); err != nil {
			return err
		}
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM jobs WHERE id = $1`, j.ID).Scan(&state)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case state == string(store.JobRunning):
			return store.ErrJobRunning
		default:
			if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, j.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, kind, target, org, state, total)
			VALUES ($1, $2, $3, $4, 'running', $5)`, j.ID, j.Kind, j.Target, j.Org, j.Total); err != nil {
			return err
		}
		idx := make([]int32, len(chunks))
		after := make([]*string, len(chunks))
		upto := make([]*string, len(chunks))
		for i, c := range chunks {
			idx[i], after[i], upto[i] = int32(c.Index), keyArg(c.After), keyArg(c.Upto)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO job_chunks (job_id, idx, after_key, upto_key)
			SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[])`, j.ID, idx, after, upto); err != nil {
			return err
		}
		out, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, j.ID))
		return err
	})
	return out, err
}

// DeleteJob implements store.JobStore.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete job %q", id)
	if !storable(id) {
		return s.fail(ctx, op, store.ErrNotFound)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
}

// ClaimChunk implements store.JobStore: the first free chunk is locked with
// FOR UPDATE SKIP LOCKED, so concurrent claimers never wait for each other
// and never get the same chunk.
func (s *Store) ClaimChunk(ctx context.Context, job, owner string, lease time.Duration) (store.JobChunk, error) {
	op := fmt.Sprintf("claim a chunk of job %q", job)
	if owner == "" || lease <= 0 {
		return store.JobChunk{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "empty owner or lease %v", lease))
	}
	if err := storableAll(job, owner); err != nil {
		return store.JobChunk{}, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return store.JobChunk{}, s.fail(ctx, op, err)
	}
	c, err := scanChunk(s.pool.QueryRow(ctx, `WITH free AS (
			SELECT c.job_id, c.idx FROM job_chunks c
			WHERE c.job_id = $1 AND NOT c.done
			  AND (c.owner IS NULL OR c.lease_until < now())
			  AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = $1 AND j.state = 'running')
			ORDER BY c.idx LIMIT 1
			FOR UPDATE SKIP LOCKED)
		UPDATE job_chunks c SET owner = $2, lease_until = now() + $3 * interval '1 microsecond'
		FROM free WHERE c.job_id = free.job_id AND c.idx = free.idx
		RETURNING c.job_id, c.idx, c.after_key, c.upto_key, c.done, c.owner, c.lease_until`,
		job, owner, lease.Microseconds()))
	if err != nil {
		return store.JobChunk{}, s.fail(ctx, op, err)
	}
	return c, nil
}

// Chunks implements store.JobStore.
func (s *Store) Chunks(ctx context.Context, job string) ([]store.JobChunk, error) {
	op := fmt.Sprintf("list chunks of job %q", job)
	if _, err := s.Job(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+chunkColumns+` FROM job_chunks WHERE job_id = $1 ORDER BY idx`, job)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JobChunk, error) { return scanChunk(r) })
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if chunks == nil {
		chunks = []store.JobChunk{}
	}
	return chunks, nil
}

// ReleaseChunk implements store.JobStore.
func (s *Store) ReleaseChunk(ctx context.Context, job string, index int, owner string) error {
	op := fmt.Sprintf("release chunk %d of job %q", index, job)
	if err := storableAll(job, owner); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE job_chunks SET owner = NULL, lease_until = NULL
			WHERE job_id = $1 AND idx = $2 AND owner = $3`, job, index, owner)
		if err == nil && tag.RowsAffected() == 0 {
			err = errf(store.ErrStale, "chunk is not leased by %q", owner)
		}
		return err
	})
}

// Checkpoint implements store.JobStore. The chunk's row is updated first
// (locking it: a concurrent claim skips it), then the job's counters.
func (s *Store) Checkpoint(ctx context.Context, job string, index int, owner string, cp store.Checkpoint) (store.Job, error) {
	op := fmt.Sprintf("checkpoint chunk %d of job %q", index, job)
	err := store.ValidCheckpoint(cp)
	if err == nil {
		err = storableAll(job, owner, cp.After.Key)
	}
	ids := make([]string, len(cp.Failures))
	reasons := make([]string, len(cp.Failures))
	for i, f := range cp.Failures {
		if err == nil {
			err = storableAll(f.RowID, f.Reason)
		}
		ids[i], reasons[i] = f.RowID, f.Reason
	}
	if err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	var out store.Job
	err = s.write(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE job_chunks
			SET after_key = CASE WHEN $1 THEN after_key ELSE $2 END, done = $1,
			    lease_until = now() + $3 * interval '1 microsecond'
			WHERE job_id = $4 AND idx = $5 AND owner = $6 AND NOT done`,
			cp.ChunkDone, keyArg(cp.After), cp.Lease.Microseconds(), job, index, owner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errf(store.ErrStale, "chunk is no longer leased by %q", owner)
		}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO job_failures (job_id, row_id, reason)
				SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT (job_id, row_id) DO NOTHING`,
				job, ids, reasons); err != nil {
				return err
			}
		}
		p := cp.Progress
		if _, err := tx.Exec(ctx, `UPDATE jobs SET done = done + $1, rewritten = rewritten + $2,
			current = current + $3, skipped = skipped + $4, failed = failed + $5, updated_at = now()
			WHERE id = $6`, p.Done, p.Rewritten, p.Current, p.Skipped, p.Failed, job); err != nil {
			return err
		}
		if cp.ChunkDone {
			if _, err := tx.Exec(ctx, `UPDATE jobs SET state = 'done', finished_at = now()
				WHERE id = $1 AND state = 'running'
				  AND NOT EXISTS (SELECT 1 FROM job_chunks WHERE job_id = $1 AND NOT done)`, job); err != nil {
				return err
			}
		}
		out, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, job))
		return err
	})
	return out, err
}

// FailJob implements store.JobStore.
func (s *Store) FailJob(ctx context.Context, id, reason string) (store.Job, error) {
	op := fmt.Sprintf("fail job %q", id)
	if err := storableAll(id, reason); err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	var out store.Job
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE jobs SET state = 'failed', error = $2, updated_at = now(), finished_at = now()
			WHERE id = $1 AND state = 'running'`, id, reason); err != nil {
			return err
		}
		var err error
		out, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
		return err
	})
	return out, err
}

// JobFailures implements store.JobStore.
func (s *Store) JobFailures(ctx context.Context, job, after string, limit int) ([]store.JobFailure, error) {
	op := fmt.Sprintf("list failures of job %q", job)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := storableAll(job, after); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT row_id, reason FROM job_failures
		WHERE job_id = $1 AND row_id > $2 ORDER BY row_id LIMIT $3`, job, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JobFailure, error) {
		var f store.JobFailure
		err := r.Scan(&f.RowID, &f.Reason)
		return f, err
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if fs == nil {
		fs = []store.JobFailure{}
	}
	return fs, nil
}
