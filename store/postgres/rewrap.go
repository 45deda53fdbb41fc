package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// KeysToRewrap implements store.Store: up to limit versions that hold a
// wrapped key (not destroyed) and are not wrapped by target, in (org,
// version) order after the cursor (afterOrg, afterVersion). Ids compare
// bytewise (COLLATE "C"). The primary key serves the order and the cursor,
// so a walk reads each row once. An empty target id, a target version 0 (KEK
// versions start at 1, and RewrapKey refuses to wrap under version 0), a
// limit below 1, and a target id or cursor that is not UTF-8 without NUL
// bytes (no stored id is) are store.ErrInvalidArgument.
func (s *Store) KeysToRewrap(ctx context.Context, target store.KEKRef, afterOrg string, afterVersion uint32, limit int) ([]store.KeyVersion, error) {
	op := fmt.Sprintf("keys to rewrap to KEK %q version %d after org %q version %d",
		target.ID, target.Version, afterOrg, afterVersion)
	err := validTarget(target)
	switch {
	case err != nil:
	case limit < 1:
		err = errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit)
	case !storable(afterOrg):
		err = errf(store.ErrInvalidArgument, "cursor %q is not UTF-8 without NUL bytes", afterOrg)
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM key_versions
		WHERE (org_id, version) > ($1, $2)
		  AND state <> 'destroyed'
		  AND (kek_id <> $3 OR kek_version <> $4)
		ORDER BY org_id, version LIMIT $5`,
		afterOrg, int64(afterVersion), target.ID, int64(target.Version), int64(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.KeyVersion, error) {
		return scanKey(row)
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if keys == nil {
		keys = []store.KeyVersion{}
	}
	return keys, nil
}

// RewrapKey implements store.Store: one UPDATE replaces the KEK and wrapped
// key of (org, version) if it is still wrapped by from and not destroyed
// (compare-and-swap). At READ COMMITTED, an UPDATE that waited for a
// concurrent writer of the row checks its WHERE clause again on the row that
// writer committed, so of two rewraps from the same KEK exactly one matches.
// If none matches, a second read tells store.ErrNotFound (no such version;
// versions are never deleted, so it did not exist at the UPDATE either) from
// store.ErrStale (wrapped by another KEK, or destroyed).
//
// The statement locks the version's row and nothing else: no key column
// changes, so there is no foreign key check on the organization, and no
// trigger touches the change counter (the state does not change). So it
// cannot deadlock with AddKey, SetKeyState or DestroyKey, which lock the
// organization or the version and then the counter. It appends nothing to
// the feed. An empty org, from or to KEK id or wrapped key, version 0 and
// to.Version 0 are store.ErrInvalidArgument, and so are KEK ids that are
// not UTF-8 without NUL bytes; an organization id of that kind is
// store.ErrNotFound.
func (s *Store) RewrapKey(ctx context.Context, org string, version uint32, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap key of org %q version %d from KEK %q version %d to KEK %q version %d",
		org, version, from.ID, from.Version, to.ID, to.Version)
	found, err := lookupVersion(org, version)
	if err == nil {
		err = validRewrap(from, to, wrapped)
	}
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE key_versions
		SET kek_id = $5, kek_version = $6, wrapped = $7, updated_at = now()
		WHERE org_id = $1 AND version = $2 AND kek_id = $3 AND kek_version = $4
		  AND state <> 'destroyed'`,
		org, int64(version), from.ID, int64(from.Version), to.ID, int64(to.Version), wrapped)
	if err == nil && tag.RowsAffected() == 0 {
		err = s.staleRewrap(ctx, org, version, from)
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// staleRewrap explains why RewrapKey matched no row: the version does not
// exist (store.ErrNotFound), or it is destroyed or wrapped by another KEK
// than from (store.ErrStale).
func (s *Store) staleRewrap(ctx context.Context, org string, version uint32, from store.KEKRef) error {
	var (
		state, kekID string
		kekVersion   int64
	)
	err := s.pool.QueryRow(ctx,
		`SELECT state, kek_id, kek_version FROM key_versions WHERE org_id = $1 AND version = $2`,
		org, int64(version),
	).Scan(&state, &kekID, &kekVersion)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
// counted by KEK version, in bytewise order of KEK id (COLLATE "C", whatever
// the database's collation), then version.
func (s *Store) KEKCounts(ctx context.Context) ([]store.KEKCount, error) {
	const op = "count keys by KEK"
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT kek_id COLLATE "C", kek_version, count(*) FROM key_versions
		WHERE state <> 'destroyed'
		GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	counts := []store.KEKCount{}
	var (
		id            string
		kekVer, count int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &kekVer, &count}, func() error {
		if kekVer < 0 || kekVer > math.MaxUint32 {
			return fmt.Errorf("corrupt kek version %d of KEK %q", kekVer, id)
		}
		counts = append(counts, store.KEKCount{KEK: store.KEKRef{ID: id, Version: uint32(kekVer)}, Count: count})
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return counts, nil
}
