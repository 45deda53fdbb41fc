package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

var _ store.JobStore = (*Store)(nil)

const jobColumns = `id, kind, target, org, state, total, done, rewritten, current, skipped, failed,
	error, started_at, updated_at, finished_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanJob(r rowScanner) (store.Job, error) {
	var (
		j                store.Job
		state            string
		started, updated int64
		finished         sql.NullInt64
	)
	if err := r.Scan(&j.ID, &j.Kind, &j.Target, &j.Org, &state, &j.Total, &j.Done, &j.Rewritten,
		&j.Current, &j.Skipped, &j.Failed, &j.Error, &started, &updated, &finished); err != nil {
		return store.Job{}, err
	}
	j.State = store.JobState(state)
	j.StartedAt, j.UpdatedAt = fromMillis(started), fromMillis(updated)
	if finished.Valid {
		j.FinishedAt = fromMillis(finished.Int64)
	}
	return j, nil
}

func nullKey(k store.JobKey) sql.NullString { return sql.NullString{String: k.Key, Valid: k.Set} }

func keyOf(n sql.NullString) store.JobKey { return store.JobKey{Key: n.String, Set: n.Valid} }

const chunkColumns = `job_id, idx, after_key, upto_key, done, owner, lease_until`

func scanChunk(r rowScanner) (store.JobChunk, error) {
	var (
		c           store.JobChunk
		after, upto sql.NullString
		owner       sql.NullString
		lease       sql.NullInt64
	)
	if err := r.Scan(&c.Job, &c.Index, &after, &upto, &c.Done, &owner, &lease); err != nil {
		return store.JobChunk{}, err
	}
	c.After, c.Upto, c.Owner = keyOf(after), keyOf(upto), owner.String
	if lease.Valid {
		c.LeaseUntil = fromMillis(lease.Int64)
	}
	return c, nil
}

// Job implements store.JobReader.
func (s *Store) Job(ctx context.Context, id string) (store.Job, error) {
	op := fmt.Sprintf("read job %q", id)
	if err := s.begin(ctx); err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	return j, nil
}

// readJob reads a job inside a write transaction.
func readJob(ctx context.Context, tx *sql.Tx, id string) (store.Job, error) {
	j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, store.ErrNotFound
	}
	return j, err
}

// CreateJob implements store.JobStore.
func (s *Store) CreateJob(ctx context.Context, j store.Job, chunks []store.JobChunk) (store.Job, error) {
	op := fmt.Sprintf("create job %q", j.ID)
	if err := store.ValidNewJob(j, chunks); err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	var out store.Job
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, j.ID).Scan(&state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case state == string(store.JobRunning):
			return store.ErrJobRunning
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, j.ID); err != nil {
				return err
			}
		}
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, kind, target, org, state, total, started_at, updated_at)
			VALUES (?, ?, ?, ?, 'running', ?, ?, ?)`, j.ID, j.Kind, j.Target, j.Org, j.Total, now, now); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO job_chunks (job_id, idx, after_key, upto_key) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, c := range chunks {
			if _, err := ins.ExecContext(ctx, j.ID, c.Index, nullKey(c.After), nullKey(c.Upto)); err != nil {
				return err
			}
		}
		out, err = readJob(ctx, tx, j.ID)
		return err
	})
	return out, err
}

// DeleteJob implements store.JobStore.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete job %q", id)
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, store.ErrNotFound)
		}
		return nil
	})
}

// ClaimChunk implements store.JobStore: SQLite has one writer at a time, so
// a conditional UPDATE of the first free chunk inside BEGIN IMMEDIATE is
// exclusive.
func (s *Store) ClaimChunk(ctx context.Context, job, owner string, lease time.Duration) (store.JobChunk, error) {
	op := fmt.Sprintf("claim a chunk of job %q", job)
	if owner == "" || lease <= 0 {
		return store.JobChunk{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "empty owner or lease %v", lease))
	}
	var c store.JobChunk
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		now := s.now()
		var err error
		c, err = scanChunk(tx.QueryRowContext(ctx, `UPDATE job_chunks SET owner = ?1, lease_until = ?2
			WHERE job_id = ?3 AND idx = (
				SELECT c.idx FROM job_chunks c JOIN jobs j ON j.id = c.job_id
				WHERE c.job_id = ?3 AND j.state = 'running' AND c.done = 0
				  AND (c.owner IS NULL OR c.lease_until < ?4)
				ORDER BY c.idx LIMIT 1)
			RETURNING `+chunkColumns, owner, millis(now.Add(lease)), job, millis(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	return c, err
}

// Chunks implements store.JobStore.
func (s *Store) Chunks(ctx context.Context, job string) (chunks []store.JobChunk, err error) {
	op := fmt.Sprintf("list chunks of job %q", job)
	if _, err := s.Job(ctx, job); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+chunkColumns+` FROM job_chunks WHERE job_id = ? ORDER BY idx`, job)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			chunks, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	chunks = []store.JobChunk{}
	for rows.Next() {
		c, err := scanChunk(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		chunks = append(chunks, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return chunks, nil
}

// ReleaseChunk implements store.JobStore.
func (s *Store) ReleaseChunk(ctx context.Context, job string, index int, owner string) error {
	op := fmt.Sprintf("release chunk %d of job %q", index, job)
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE job_chunks SET owner = NULL, lease_until = NULL
			WHERE job_id = ? AND idx = ? AND owner = ?`, job, index, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, errf(store.ErrStale, "chunk is not leased by %q", owner))
		}
		return nil
	})
}

// Checkpoint implements store.JobStore.
func (s *Store) Checkpoint(ctx context.Context, job string, index int, owner string, cp store.Checkpoint) (store.Job, error) {
	op := fmt.Sprintf("checkpoint chunk %d of job %q", index, job)
	if err := store.ValidCheckpoint(cp); err != nil {
		return store.Job{}, s.fail(ctx, op, err)
	}
	var out store.Job
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		now := s.now()
		done := 0
		if cp.ChunkDone {
			done = 1
		}
		res, err := tx.ExecContext(ctx, `UPDATE job_chunks
			SET after_key = CASE WHEN ?1 THEN after_key ELSE ?2 END, done = ?1, lease_until = ?3
			WHERE job_id = ?4 AND idx = ?5 AND owner = ?6 AND done = 0`,
			done, nullKey(cp.After), millis(now.Add(cp.Lease)), job, index, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, errf(store.ErrStale, "chunk is no longer leased by %q", owner))
		}
		p := cp.Progress
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET done = done + ?, rewritten = rewritten + ?,
			current = current + ?, skipped = skipped + ?, failed = failed + ?, updated_at = ? WHERE id = ?`,
			p.Done, p.Rewritten, p.Current, p.Skipped, p.Failed, millis(now), job); err != nil {
			return err
		}
		if len(cp.Failures) > 0 {
			ins, err := tx.PrepareContext(ctx, `INSERT INTO job_failures (job_id, row_id, reason) VALUES (?, ?, ?)
				ON CONFLICT (job_id, row_id) DO NOTHING`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for _, f := range cp.Failures {
				if _, err := ins.ExecContext(ctx, job, f.RowID, f.Reason); err != nil {
					return err
				}
			}
		}
		if cp.ChunkDone {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'done', finished_at = ?1
				WHERE id = ?2 AND state = 'running'
				  AND NOT EXISTS (SELECT 1 FROM job_chunks WHERE job_id = ?2 AND done = 0)`, millis(now), job); err != nil {
				return err
			}
		}
		out, err = readJob(ctx, tx, job)
		return err
	})
	return out, err
}

// FailJob implements store.JobStore.
func (s *Store) FailJob(ctx context.Context, id, reason string) (store.Job, error) {
	op := fmt.Sprintf("fail job %q", id)
	var out store.Job
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', error = ?, updated_at = ?, finished_at = ?
			WHERE id = ? AND state = 'running'`, reason, now, now, id); err != nil {
			return err
		}
		var err error
		out, err = readJob(ctx, tx, id)
		return err
	})
	return out, err
}

// JobFailures implements store.JobStore.
func (s *Store) JobFailures(ctx context.Context, job, after string, limit int) (fs []store.JobFailure, err error) {
	op := fmt.Sprintf("list failures of job %q", job)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT row_id, reason FROM job_failures
		WHERE job_id = ? AND row_id > ? ORDER BY row_id LIMIT ?`, job, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			fs, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	fs = []store.JobFailure{}
	for rows.Next() {
		var f store.JobFailure
		if err := rows.Scan(&f.RowID, &f.Reason); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return fs, nil
}
