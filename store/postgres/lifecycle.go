package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// SetKeyState implements store.Store: only decrypt-only ↔ retired; setting a
// decrypt-only or retired version to its current state is a no-op. A move
// appends one change to the feed (the state trigger), a no-op none.
func (s *Store) SetKeyState(ctx context.Context, org string, version uint32, to store.KeyState) error {
	op := fmt.Sprintf("set state of org %q version %d to %q", org, version, to)
	found, err := lookupVersion(org, version)
	if err == nil && !to.Valid() {
		err = errf(store.ErrInvalidArgument, "unknown key state %q", to)
	}
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		from, err := lockKey(ctx, tx, org, version)
		if err != nil {
			return err
		}
		if !settable(from) || !settable(to) {
			return errf(store.ErrInvalidTransition, "version is %s", from)
		}
		if from == to {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE key_versions SET state = $3, updated_at = now()
			WHERE org_id = $1 AND version = $2`, org, int64(version), string(to))
		return err
	})
}

// settable reports whether SetKeyState may move a version from or to st.
func settable(st store.KeyState) bool {
	return st == store.StateDecryptOnly || st == store.StateRetired
}

// DestroyKey implements store.Store. The wrapped key is set to NULL; the
// old row version stays in the table's heap (and in WAL, replicas and
// backups) until VACUUM reclaims it, which is beyond the store's reach.
// Destroying appends one change to the feed; destroying a destroyed version
// changes nothing and appends none.
func (s *Store) DestroyKey(ctx context.Context, org string, version uint32) error {
	op := fmt.Sprintf("destroy key of org %q version %d", org, version)
	found, err := lookupVersion(org, version)
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		from, err := lockKey(ctx, tx, org, version)
		if err != nil {
			return err
		}
		switch from {
		case store.StateDestroyed:
			return nil
		case store.StateActive:
			return errf(store.ErrInvalidTransition, "the active version cannot be destroyed (rotate first)")
		}
		_, err = tx.Exec(ctx, `UPDATE key_versions SET state = 'destroyed', wrapped = NULL, updated_at = now()
			WHERE org_id = $1 AND version = $2`, org, int64(version))
		return err
	})
}

// lockKey locks one version's row inside tx and returns its state, or
// ErrNotFound. The lock makes the check and the update that follows one
// step: a concurrent AddKey demoting the version, or another state change,
// waits for this transaction or is waited for.
func lockKey(ctx context.Context, tx pgx.Tx, org string, version uint32) (store.KeyState, error) {
	var st string
	err := tx.QueryRow(ctx,
		`SELECT state FROM key_versions WHERE org_id = $1 AND version = $2 FOR UPDATE`, org, int64(version),
	).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return store.KeyState(st), err
}
