package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// keyColumns are the columns scanKey reads, in its order.
const keyColumns = `org_id, version, state, kek_id, kek_version, wrapped, usage, created_at, updated_at`

// scanKey reads one key_versions row. pgx copies bytea into a new slice, so
// the returned Wrapped belongs to the caller.
func scanKey(row pgx.Row) (store.KeyVersion, error) {
	var (
		kv                     store.KeyVersion
		version, kekVer, usage int64
		state                  string
		createdAt, updatedAt   time.Time
	)
	if err := row.Scan(&kv.Org, &version, &state, &kv.KEKID, &kekVer, &kv.Wrapped, &usage,
		&createdAt, &updatedAt); err != nil {
		return store.KeyVersion{}, err
	}
	if version < 1 || version > math.MaxUint32 || kekVer < 0 || kekVer > math.MaxUint32 || usage < 0 {
		return store.KeyVersion{}, fmt.Errorf("corrupt key row %q/%d: kek version %d, usage %d",
			kv.Org, version, kekVer, usage)
	}
	kv.Version, kv.KEKVersion, kv.Usage = uint32(version), uint32(kekVer), uint64(usage)
	kv.State = store.KeyState(state)
	kv.CreatedAt, kv.UpdatedAt = utc(createdAt), utc(updatedAt)
	return kv, nil
}

// ActiveKey implements store.Store.
func (s *Store) ActiveKey(ctx context.Context, org string) (store.KeyVersion, error) {
	op := fmt.Sprintf("active key of org %q", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return store.KeyVersion{}, s.fail(ctx, op, notFoundUnless(err))
	}
	return s.readKey(ctx, op,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = $1 AND state = 'active'`, org)
}

// Key implements store.Store.
func (s *Store) Key(ctx context.Context, org string, version uint32) (store.KeyVersion, error) {
	op := fmt.Sprintf("key of org %q version %d", org, version)
	found, err := lookupVersion(org, version)
	if err != nil || !found {
		return store.KeyVersion{}, s.fail(ctx, op, notFoundUnless(err))
	}
	return s.readKey(ctx, op,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = $1 AND version = $2`, org, int64(version))
}

// notFoundUnless returns err, or store.ErrNotFound if err is nil: the
// argument check found the id malformed (err) or unstorable (nil).
func notFoundUnless(err error) error {
	if err != nil {
		return err
	}
	return store.ErrNotFound
}

// readKey reads the one key row query selects, or ErrNotFound.
func (s *Store) readKey(ctx context.Context, op, query string, args ...any) (store.KeyVersion, error) {
	if err := s.begin(ctx); err != nil {
		return store.KeyVersion{}, s.fail(ctx, op, err)
	}
	kv, err := scanKey(s.pool.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
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
func (s *Store) Keys(ctx context.Context, org string) ([]store.KeyVersion, error) {
	op := fmt.Sprintf("keys of org %q", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return nil, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM key_versions WHERE org_id = $1 ORDER BY version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.KeyVersion, error) {
		return scanKey(row)
	})
	if err == nil && len(keys) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return keys, nil
}

// AddKey implements store.Store. In one transaction it locks the
// organization's row (serialising rotations of one organization across all
// processes), checks that kv.Version is the highest version plus one, moves
// the active version to decrypt-only and inserts kv as the active version;
// the insert trigger appends the change. kv.Usage is ignored: a new version
// starts at 0.
//
// The lock is FOR NO KEY UPDATE: it excludes other rotations of the
// organization like FOR UPDATE would, but not the FOR KEY SHARE locks of
// foreign key checks, which need not wait for a rotation.
func (s *Store) AddKey(ctx context.Context, kv store.KeyVersion) error {
	op := fmt.Sprintf("add key to org %q version %d", kv.Org, kv.Version)
	if err := validNewKey(kv); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		var high int64
		err := tx.QueryRow(ctx, `SELECT (SELECT coalesce(max(version), 0) FROM key_versions WHERE org_id = $1)
			FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, kv.Org).Scan(&high)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if int64(kv.Version) != high+1 {
			return errf(store.ErrVersionConflict, "highest version is %d", high)
		}
		if _, err := tx.Exec(ctx, `UPDATE key_versions SET state = 'decrypt-only', updated_at = now()
			WHERE org_id = $1 AND state = 'active'`, kv.Org); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO key_versions
			(org_id, version, state, kek_id, kek_version, wrapped, usage, created_at, updated_at)
			VALUES ($1, $2, 'active', $3, $4, $5, 0, now(), now())`,
			kv.Org, int64(kv.Version), kv.KEKID, int64(kv.KEKVersion), kv.Wrapped)
		return err
	})
}
