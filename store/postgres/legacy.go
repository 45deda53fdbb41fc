package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

var (
	_ store.LegacyKeyStore = (*Store)(nil)
	_ store.Shredder       = (*Store)(nil)
	_ store.ReferenceStore = (*Store)(nil)
)

const legacyColumns = `org_id, id, kind, state, fingerprint, kek_id, kek_version, wrapped, created_at, updated_at`

func scanLegacy(row pgx.Row) (store.LegacyKey, error) {
	var (
		k          store.LegacyKey
		id, kekVer int64
		state      string
	)
	if err := row.Scan(&k.Org, &id, &k.Kind, &state, &k.Fingerprint, &k.KEKID, &kekVer, &k.Wrapped, &k.CreatedAt, &k.UpdatedAt); err != nil {
		return store.LegacyKey{}, err
	}
	if id < 1 || id > math.MaxUint32 || kekVer < 0 || kekVer > math.MaxUint32 {
		return store.LegacyKey{}, fmt.Errorf("corrupt legacy key row %q/%d: kek version %d", k.Org, id, kekVer)
	}
	k.ID, k.KEKVersion, k.State = uint32(id), uint32(kekVer), store.KeyState(state)
	k.CreatedAt, k.UpdatedAt = utc(k.CreatedAt), utc(k.UpdatedAt)
	return k, nil
}

// validNewLegacy checks a legacy key about to be added.
func validNewLegacy(k store.LegacyKey) error {
	if err := validOrg(k.Org); err != nil {
		return err
	}
	switch {
	case k.ID == 0:
		return errf(store.ErrInvalidArgument, "legacy key id 0 (ids start at 1)")
	case k.Kind != store.LegacyFernet:
		return errf(store.ErrInvalidArgument, "legacy key kind %q, want %q", k.Kind, store.LegacyFernet)
	case k.State != store.StateDecryptOnly:
		return errf(store.ErrInvalidArgument, "new legacy key in state %q, want %q", k.State, store.StateDecryptOnly)
	case k.Fingerprint == "" || !storable(k.Fingerprint):
		return errf(store.ErrInvalidArgument, "legacy key without a storable fingerprint")
	case len(k.Wrapped) == 0:
		return errf(store.ErrInvalidArgument, "legacy key without wrapped key")
	}
	return validKEKID("legacy key's", k.KEKID)
}

// lockOrg locks the organization's row FOR NO KEY UPDATE, as AddKey does,
// so adding keys and shredding are serialised per organization, and reports
// whether it is shredded; ErrNotFound if it does not exist.
func lockOrg(ctx context.Context, tx pgx.Tx, org string) (shredded bool, err error) {
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM org_shreds WHERE org_id = $1)
		FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, org).Scan(&shredded)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, store.ErrNotFound
	}
	return shredded, err
}

// AddLegacyKey implements store.LegacyKeyStore. The organization's row is
// locked first (as AddKey does), so concurrent adds and a shred take turns;
// the insert trigger checks again and appends the change.
func (s *Store) AddLegacyKey(ctx context.Context, k store.LegacyKey) (store.LegacyKey, error) {
	op := fmt.Sprintf("add legacy key %d to org %q", k.ID, k.Org)
	if err := validNewLegacy(k); err != nil {
		return store.LegacyKey{}, s.fail(ctx, op, err)
	}
	var out store.LegacyKey
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		shredded, err := lockOrg(ctx, tx, k.Org)
		if err != nil {
			return err
		}
		if shredded {
			return errf(store.ErrInvalidTransition, "the organization is shredded")
		}
		var (
			high int64
			dup  *int64
		)
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT coalesce(max(id), 0) FROM legacy_keys WHERE org_id = $1),
			(SELECT id FROM legacy_keys WHERE org_id = $1 AND fingerprint = $2)`, k.Org, k.Fingerprint,
		).Scan(&high, &dup); err != nil {
			return err
		}
		switch {
		case dup != nil:
			return errf(store.ErrKeyExists, "it is legacy key %d", *dup)
		case int64(k.ID) != high+1:
			return errf(store.ErrVersionConflict, "highest legacy key id is %d", high)
		}
		out, err = scanLegacy(tx.QueryRow(ctx, `INSERT INTO legacy_keys
			(org_id, id, kind, state, fingerprint, kek_id, kek_version, wrapped, created_at, updated_at)
			VALUES ($1, $2, $3, 'decrypt-only', $4, $5, $6, $7, now(), now())
			RETURNING `+legacyColumns,
			k.Org, int64(k.ID), k.Kind, k.Fingerprint, k.KEKID, int64(k.KEKVersion), k.Wrapped))
		return err
	})
	if err != nil {
		return store.LegacyKey{}, err
	}
	return out, nil
}

// LegacyKeys implements store.LegacyKeyStore. When the organization has
// no legacy key, a second read tells an unknown organization (orgs are never
// deleted, so it did not exist at the first read either) from one without.
func (s *Store) LegacyKeys(ctx context.Context, org string) ([]store.LegacyKey, error) {
	op := fmt.Sprintf("legacy keys of org %q", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return nil, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+legacyColumns+` FROM legacy_keys WHERE org_id = $1 ORDER BY id`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LegacyKey, error) { return scanLegacy(row) })
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(keys) > 0 {
		return keys, nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM orgs WHERE id = $1)`, org).Scan(&exists); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if !exists {
		return nil, s.fail(ctx, op, store.ErrNotFound)
	}
	return []store.LegacyKey{}, nil
}

// lockLegacy locks one legacy key's row inside tx and returns its state, or
// ErrNotFound.
func lockLegacy(ctx context.Context, tx pgx.Tx, org string, id uint32) (store.KeyState, error) {
	var st string
	err := tx.QueryRow(ctx, `SELECT state FROM legacy_keys WHERE org_id = $1 AND id = $2 FOR UPDATE`,
		org, int64(id)).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return store.KeyState(st), err
}

// SetLegacyKeyState implements store.LegacyKeyStore.
func (s *Store) SetLegacyKeyState(ctx context.Context, org string, id uint32, to store.KeyState) error {
	op := fmt.Sprintf("set state of org %q legacy key %d to %q", org, id, to)
	found, err := lookupVersion(org, id)
	if err == nil && !to.Valid() {
		err = errf(store.ErrInvalidArgument, "unknown key state %q", to)
	}
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		from, err := lockLegacy(ctx, tx, org, id)
		if err != nil {
			return err
		}
		if !settable(from) || !settable(to) {
			return errf(store.ErrInvalidTransition, "legacy key is %s", from)
		}
		if from == to {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE legacy_keys SET state = $3, updated_at = now() WHERE org_id = $1 AND id = $2`,
			org, int64(id), string(to))
		return err
	})
}

// DestroyLegacyKey implements store.LegacyKeyStore (see DestroyKey on what
// remains of the old row version).
func (s *Store) DestroyLegacyKey(ctx context.Context, org string, id uint32) error {
	op := fmt.Sprintf("destroy org %q legacy key %d", org, id)
	found, err := lookupVersion(org, id)
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		from, err := lockLegacy(ctx, tx, org, id)
		if err != nil || from == store.StateDestroyed {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE legacy_keys SET state = 'destroyed', wrapped = NULL, updated_at = now()
			WHERE org_id = $1 AND id = $2`, org, int64(id))
		return err
	})
}

// LegacyKeysToRewrap implements store.LegacyKeyStore.
func (s *Store) LegacyKeysToRewrap(ctx context.Context, target store.KEKRef, afterOrg string, afterID uint32, limit int) ([]store.LegacyKey, error) {
	op := fmt.Sprintf("legacy keys to rewrap to KEK %q version %d after org %q id %d", target.ID, target.Version, afterOrg, afterID)
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
	rows, err := s.pool.Query(ctx, `SELECT `+legacyColumns+` FROM legacy_keys
		WHERE (org_id, id) > ($1, $2) AND state <> 'destroyed' AND (kek_id <> $3 OR kek_version <> $4)
		ORDER BY org_id, id LIMIT $5`,
		afterOrg, int64(afterID), target.ID, int64(target.Version), int64(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LegacyKey, error) { return scanLegacy(row) })
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if keys == nil {
		keys = []store.LegacyKey{}
	}
	return keys, nil
}

// RewrapLegacyKey implements store.LegacyKeyStore: one compare-and-swap
// UPDATE, as RewrapKey; the state does not change, so nothing is appended
// to the feed.
func (s *Store) RewrapLegacyKey(ctx context.Context, org string, id uint32, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap org %q legacy key %d from KEK %q version %d to KEK %q version %d",
		org, id, from.ID, from.Version, to.ID, to.Version)
	found, err := lookupVersion(org, id)
	if err == nil {
		err = validRewrap(from, to, wrapped)
	}
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE legacy_keys SET kek_id = $3, kek_version = $4, wrapped = $5, updated_at = now()
			WHERE org_id = $1 AND id = $2 AND kek_id = $6 AND kek_version = $7 AND state <> 'destroyed'`,
			org, int64(id), to.ID, int64(to.Version), wrapped, from.ID, int64(from.Version))
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var st string
		err = tx.QueryRow(ctx, `SELECT state FROM legacy_keys WHERE org_id = $1 AND id = $2`, org, int64(id)).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return errf(store.ErrStale, "legacy key is %s or wrapped by another KEK than %q version %d", st, from.ID, from.Version)
	})
}

// LegacyKEKCounts implements store.LegacyKeyStore.
func (s *Store) LegacyKEKCounts(ctx context.Context) ([]store.KEKCount, error) {
	const op = "count legacy keys by KEK"
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT kek_id, kek_version, count(*) FROM legacy_keys
		WHERE state <> 'destroyed' GROUP BY kek_id, kek_version ORDER BY kek_id COLLATE "C", kek_version`)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.KEKCount, error) {
		var (
			c      store.KEKCount
			kekVer int64
		)
		err := row.Scan(&c.KEK.ID, &kekVer, &c.Count)
		c.KEK.Version = uint32(kekVer)
		return c, err
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if counts == nil {
		counts = []store.KEKCount{}
	}
	return counts, nil
}
