package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward/store"
)

// SetKeyState implements store.Store: only decrypt-only ↔ retired; setting a
// decrypt-only or retired version to its current state is a no-op. A move
// appends one change to the feed (see Changes), a no-op none.
func (s *Store) SetKeyState(ctx context.Context, org string, version uint32, to store.KeyState) error {
	op := fmt.Sprintf("set state of org %q version %d to %q", org, version, to)
	if err := validVersion(org, version); err != nil {
		return s.fail(ctx, op, err)
	}
	if !to.Valid() {
		return s.fail(ctx, op, errf(store.ErrInvalidArgument, "unknown key state %q", to))
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		from, err := keyState(ctx, tx, org, version)
		if err != nil {
			return err
		}
		if !settable(from) || !settable(to) {
			return errf(store.ErrInvalidTransition, "version is %s", from)
		}
		if from == to {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE key_versions SET state = ?, updated_at = ?
			WHERE org_id = ? AND version = ?`, string(to), millis(s.now()), org, version)
		return err
	})
}

// settable reports whether SetKeyState may move a version from or to st.
func settable(st store.KeyState) bool {
	return st == store.StateDecryptOnly || st == store.StateRetired
}

// DestroyKey implements store.Store. secure_delete is on, so the erased
// wrapped key is overwritten in the database file. After the commit it asks
// for a WAL checkpoint that truncates the write-ahead log, which may still
// hold the old page; that is best effort (a busy reader can delay it until a
// later checkpoint), and backups taken earlier keep their copy. Destroying
// appends one change to the feed (see Changes); destroying a destroyed
// version changes nothing and appends none.
func (s *Store) DestroyKey(ctx context.Context, org string, version uint32) error {
	op := fmt.Sprintf("destroy key of org %q version %d", org, version)
	if err := validVersion(org, version); err != nil {
		return s.fail(ctx, op, err)
	}
	changed := false
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		from, err := keyState(ctx, tx, org, version)
		if err != nil {
			return err
		}
		switch from {
		case store.StateDestroyed:
			return nil
		case store.StateActive:
			return errf(store.ErrInvalidTransition, "the active version cannot be destroyed (rotate first)")
		}
		changed = true
		_, err = tx.ExecContext(ctx, `UPDATE key_versions
			SET state = 'destroyed', wrapped = NULL, updated_at = ?
			WHERE org_id = ? AND version = ?`, millis(s.now()), org, version)
		return err
	})
	if err == nil && changed {
		_, _ = s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return err
}

// keyState reads the state of one version inside tx, or ErrNotFound.
func keyState(ctx context.Context, tx *sql.Tx, org string, version uint32) (store.KeyState, error) {
	var st string
	err := tx.QueryRowContext(ctx,
		`SELECT state FROM key_versions WHERE org_id = ? AND version = ?`, org, version,
	).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return store.KeyState(st), err
}
