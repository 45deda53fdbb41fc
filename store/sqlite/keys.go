package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/store"
)

// keyColumns are the columns scanKey reads, in its order.
const keyColumns = `org_id, version, state, kek_id, kek_version, wrapped, usage, created_at, updated_at`

// scanKey reads one key_versions row. database/sql copies the wrapped bytes,
// so the returned slice belongs to the caller.
func scanKey(row interface{ Scan(...any) error }) (store.KeyVersion, error) {
	var (
		kv                 store.KeyVersion
		version, kekVer    int64
		state              string
		usage              int64
		created, updatedAt int64
	)
	if err := row.Scan(&kv.Org, &version, &state, &kv.KEKID, &kekVer, &kv.Wrapped, &usage, &created, &updatedAt); err != nil {
		return store.KeyVersion{}, err
	}
	if version < 1 || version > math.MaxUint32 || kekVer < 0 || kekVer > math.MaxUint32 || usage < 0 {
		return store.KeyVersion{}, fmt.Errorf("corrupt key row %q/%d: kek version %d, usage %d", kv.Org, version, kekVer, usage)
	}
	kv.Version, kv.KEKVersion, kv.Usage = uint32(version), uint32(kekVer), uint64(usage)
	kv.State = store.KeyState(state)
	kv.CreatedAt, kv.UpdatedAt = fromMillis(created), fromMillis(updatedAt)
	return kv, nil
}

// ActiveKey implements store.Store.
func (s *Store) ActiveKey(ctx context.Context, org string) (store.KeyVersion, error) {
	op := fmt.Sprintf("active key of org %q", org)
	if err := validOrg(org); err != nil {
		return store.KeyVersion{}, s.fail(ctx, op, err)
	}
	return s.readKey(ctx, op,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = ? AND state = 'active'`, org)
}

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, org string, version uint32) (store.KeyVersion, error) {
	op := fmt.Sprintf("key of org %q version %d", org, version)
	if err := validVersion(org, version); err != nil {
		return store.KeyVersion{}, s.fail(ctx, op, err)
	}
	return s.readKey(ctx, op,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = ? AND version = ?`, org, version)
}

// readKey reads the one key row query selects, or ErrNotFound.
func (s *Store) readKey(ctx context.Context, op, query string, args ...any) (store.KeyVersion, error) {
	if err := s.begin(ctx); err != nil {
		return store.KeyVersion{}, s.fail(ctx, op, err)
	}
	kv, err := scanKey(s.r.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.KeyVersion{}, s.fail(ctx, op, err)
	}
	return kv, nil
}

// Keys implements store.Store. An organization always has at least its
// version 1 (versions are never deleted), so no rows means no organization;
// one statement reads one consistent snapshot.
func (s *Store) Keys(ctx context.Context, org string) (keys []store.KeyVersion, err error) {
	op := fmt.Sprintf("keys of org %q", org)
	if err := validOrg(org); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = ? ORDER BY version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			keys, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	for rows.Next() {
		kv, err := scanKey(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		keys = append(keys, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(keys) == 0 {
		return nil, s.fail(ctx, op, store.ErrNotFound)
	}
	return keys, nil
}

// AddKey implements store.Store. Inside one BEGIN IMMEDIATE transaction it
// checks that kv.Version is the highest version plus one, moves the active
// version to decrypt-only and inserts kv as the active version; the insert
// appends one change to the feed (see Changes). kv.Usage is ignored: a new
// version starts at 0.
func (s *Store) AddKey(ctx context.Context, kv store.KeyVersion) error {
	op := fmt.Sprintf("add key to org %q version %d", kv.Org, kv.Version)
	if err := validNewKey(kv); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		var (
			exists bool
			high   int64
		)
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM orgs WHERE id = ?1),
			(SELECT coalesce(max(version), 0) FROM key_versions WHERE org_id = ?1)`,
			kv.Org,
		).Scan(&exists, &high); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		if int64(kv.Version) != high+1 {
			return errf(store.ErrVersionConflict, "highest version is %d", high)
		}
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE key_versions
			SET state = 'decrypt-only', updated_at = ?
			WHERE org_id = ? AND state = 'active'`, now, kv.Org,
		); err != nil {
			return err
		}
		return insertKey(ctx, tx, kv, now)
	})
}

// insertKey inserts kv as a new active version created at now (ms), with
// no usage yet (kv.Usage is ignored). The schema's insert trigger appends
// the change to key_changes.
func insertKey(ctx context.Context, tx *sql.Tx, kv store.KeyVersion, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO key_versions
		(org_id, version, state, kek_id, kek_version, wrapped, created_at, updated_at)
		VALUES (?, ?, 'active', ?, ?, ?, ?, ?)`,
		kv.Org, kv.Version, kv.KEKID, kv.KEKVersion, kv.Wrapped, now, now)
	return err
}
