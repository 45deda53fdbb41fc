package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/store"
)

// KeysToRewrap implements store.Store: up to limit versions that hold a
// wrapped key (not destroyed) and are not wrapped by target, in (org,
// version) order after the cursor (afterOrg, afterVersion). Ids compare
// bytewise (SQLite's BINARY collation). The primary key serves the order and
// the cursor, so a walk reads each row once. An empty target id, a target
// version 0 (KEK versions start at 1, and RewrapKey refuses to wrap under
// version 0) and a limit below 1 are store.ErrInvalidArgument.
func (s *Store) KeysToRewrap(ctx context.Context, target store.KEKRef, afterOrg string, afterVersion uint32, limit int) (keys []store.KeyVersion, err error) {
	op := fmt.Sprintf("keys to rewrap to KEK %q version %d after org %q version %d",
		target.ID, target.Version, afterOrg, afterVersion)
	if err := validTarget(target); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM key_versions
		WHERE (org_id, version) > (?1, ?2)
		  AND state <> 'destroyed'
		  AND (kek_id <> ?3 OR kek_version <> ?4)
		ORDER BY org_id, version LIMIT ?5`,
		afterOrg, afterVersion, target.ID, target.Version, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			keys, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	keys = []store.KeyVersion{}
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
	return keys, nil
}

// RewrapKey implements store.Store: in one write transaction, a single
// UPDATE replaces the KEK and wrapped key of (org, version) if it is still
// wrapped by from and not destroyed (compare-and-swap); if it matches no row,
// a read in the same transaction tells store.ErrNotFound (no such version)
// from store.ErrStale (wrapped by another KEK, or destroyed). The state and
// usage stay as they are and UpdatedAt is set; the change feed's triggers
// fire on state changes only, so nothing is appended to it. An empty org,
// from or to KEK id or wrapped key, version 0 and to.Version 0 are
// store.ErrInvalidArgument. The store keeps its own copy of wrapped.
func (s *Store) RewrapKey(ctx context.Context, org string, version uint32, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap key of org %q version %d from KEK %q version %d to KEK %q version %d",
		org, version, from.ID, from.Version, to.ID, to.Version)
	if err := validRewrap(org, version, from, to, wrapped); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE key_versions
			SET kek_id = ?1, kek_version = ?2, wrapped = ?3, updated_at = ?4
			WHERE org_id = ?5 AND version = ?6 AND kek_id = ?7 AND kek_version = ?8
			  AND state <> 'destroyed'`,
			to.ID, to.Version, wrapped, millis(s.now()), org, version, from.ID, from.Version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 1 {
			return err
		}
		return staleRewrap(ctx, tx, org, version, from)
	})
}

// staleRewrap explains, inside tx, why RewrapKey matched no row: the version
// does not exist (store.ErrNotFound), or it is destroyed or wrapped by
// another KEK than from (store.ErrStale).
func staleRewrap(ctx context.Context, tx *sql.Tx, org string, version uint32, from store.KEKRef) error {
	var (
		state, kekID string
		kekVersion   int64
	)
	err := tx.QueryRowContext(ctx,
		`SELECT state, kek_id, kek_version FROM key_versions WHERE org_id = ? AND version = ?`, org, version,
	).Scan(&state, &kekID, &kekVersion)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case state == string(store.StateDestroyed):
		return errf(store.ErrStale, "version is destroyed")
	}
	return errf(store.ErrStale, "version is wrapped by KEK %q version %d, not %q version %d",
		kekID, kekVersion, from.ID, from.Version)
}

// KEKCounts implements store.Store: the versions that hold a wrapped key,
// counted by KEK version, in bytewise order of KEK id, then version.
func (s *Store) KEKCounts(ctx context.Context) (counts []store.KEKCount, err error) {
	const op = "count keys by KEK"
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT kek_id, kek_version, count(*) FROM key_versions
		WHERE state <> 'destroyed'
		GROUP BY kek_id, kek_version ORDER BY kek_id, kek_version`)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			counts, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	counts = []store.KEKCount{}
	for rows.Next() {
		var (
			c      store.KEKCount
			kekVer int64
		)
		if err := rows.Scan(&c.KEK.ID, &kekVer, &c.Count); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		if kekVer < 0 || kekVer > math.MaxUint32 {
			return nil, s.fail(ctx, op, fmt.Errorf("corrupt kek version %d of KEK %q", kekVer, c.KEK.ID))
		}
		c.KEK.Version = uint32(kekVer)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return counts, nil
}
