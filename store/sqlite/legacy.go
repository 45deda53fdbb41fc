package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/store"
)

var (
	_ store.LegacyKeyStore = (*Store)(nil)
	_ store.Shredder       = (*Store)(nil)
)

const legacyColumns = `org_id, id, kind, state, fingerprint, kek_id, kek_version, wrapped, created_at, updated_at`

func scanLegacy(row interface{ Scan(...any) error }) (store.LegacyKey, error) {
	var (
		k                store.LegacyKey
		id, kekVer       int64
		state            string
		created, updated int64
	)
	if err := row.Scan(&k.Org, &id, &k.Kind, &state, &k.Fingerprint, &k.KEKID, &kekVer, &k.Wrapped, &created, &updated); err != nil {
		return store.LegacyKey{}, err
	}
	if id < 1 || id > math.MaxUint32 || kekVer < 0 || kekVer > math.MaxUint32 {
		return store.LegacyKey{}, fmt.Errorf("corrupt legacy key row %q/%d: kek version %d", k.Org, id, kekVer)
	}
	k.ID, k.KEKVersion, k.State = uint32(id), uint32(kekVer), store.KeyState(state)
	k.CreatedAt, k.UpdatedAt = fromMillis(created), fromMillis(updated)
	return k, nil
}

// validNewLegacy checks a legacy key about to be added.
func validNewLegacy(k store.LegacyKey) error {
	if err := validVersion(k.Org, k.ID); err != nil {
		return err
	}
	switch {
	case k.Kind != store.LegacyFernet:
		return errf(store.ErrInvalidArgument, "legacy key kind %q, want %q", k.Kind, store.LegacyFernet)
	case k.State != store.StateDecryptOnly:
		return errf(store.ErrInvalidArgument, "new legacy key in state %q, want %q", k.State, store.StateDecryptOnly)
	case k.Fingerprint == "":
		return errf(store.ErrInvalidArgument, "legacy key without fingerprint")
	case len(k.Wrapped) == 0:
		return errf(store.ErrInvalidArgument, "legacy key without wrapped key")
	case k.KEKID == "":
		return errf(store.ErrInvalidArgument, "legacy key without KEK id")
	}
	return nil
}

// AddLegacyKey implements store.LegacyKeyStore. The insert trigger checks
// the id, the state and that the organization is not shredded again, and
// appends the change.
func (s *Store) AddLegacyKey(ctx context.Context, k store.LegacyKey) (store.LegacyKey, error) {
	op := fmt.Sprintf("add legacy key %d to org %q", k.ID, k.Org)
	if err := validNewLegacy(k); err != nil {
		return store.LegacyKey{}, s.fail(ctx, op, err)
	}
	var out store.LegacyKey
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		var (
			exists, shredded bool
			high             int64
			dup              sql.NullInt64
		)
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM orgs WHERE id = ?1),
			EXISTS (SELECT 1 FROM org_shreds WHERE org_id = ?1),
			(SELECT coalesce(max(id), 0) FROM legacy_keys WHERE org_id = ?1),
			(SELECT id FROM legacy_keys WHERE org_id = ?1 AND fingerprint = ?2)`,
			k.Org, k.Fingerprint,
		).Scan(&exists, &shredded, &high, &dup); err != nil {
			return err
		}
		switch {
		case !exists:
			return store.ErrNotFound
		case shredded:
			return errf(store.ErrInvalidTransition, "the organization is shredded")
		case dup.Valid:
			return errf(store.ErrKeyExists, "it is legacy key %d", dup.Int64)
		case int64(k.ID) != high+1:
			return errf(store.ErrVersionConflict, "highest legacy key id is %d", high)
		}
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO legacy_keys (`+legacyColumns+`)
			VALUES (?, ?, ?, 'decrypt-only', ?, ?, ?, ?, ?, ?)`,
			k.Org, k.ID, k.Kind, k.Fingerprint, k.KEKID, k.KEKVersion, k.Wrapped, now, now); err != nil {
			return err
		}
		var err error
		out, err = scanLegacy(tx.QueryRowContext(ctx,
			`SELECT `+legacyColumns+` FROM legacy_keys WHERE org_id = ? AND id = ?`, k.Org, k.ID))
		return err
	})
	if err != nil {
		return store.LegacyKey{}, err
	}
	return out, nil
}

// LegacyKeys implements store.LegacyKeyStore.
func (s *Store) LegacyKeys(ctx context.Context, org string) (keys []store.LegacyKey, err error) {
	op := fmt.Sprintf("legacy keys of org %q", org)
	if err := validOrg(org); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	// One read transaction: the org check and the keys see one snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() { _ = tx.Rollback() }()
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?)`, org).Scan(&exists); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if !exists {
		return nil, s.fail(ctx, op, store.ErrNotFound)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+legacyColumns+` FROM legacy_keys WHERE org_id = ? ORDER BY id`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	keys = []store.LegacyKey{}
	for rows.Next() {
		k, err := scanLegacy(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return keys, nil
}

// legacyState reads the state of one legacy key inside tx, or ErrNotFound.
func legacyState(ctx context.Context, tx *sql.Tx, org string, id uint32) (store.KeyState, error) {
	var st string
	err := tx.QueryRowContext(ctx, `SELECT state FROM legacy_keys WHERE org_id = ? AND id = ?`, org, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return store.KeyState(st), err
}

// SetLegacyKeyState implements store.LegacyKeyStore.
func (s *Store) SetLegacyKeyState(ctx context.Context, org string, id uint32, to store.KeyState) error {
	op := fmt.Sprintf("set state of org %q legacy key %d to %q", org, id, to)
	if err := validVersion(org, id); err != nil {
		return s.fail(ctx, op, err)
	}
	if !to.Valid() {
		return s.fail(ctx, op, errf(store.ErrInvalidArgument, "unknown key state %q", to))
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		from, err := legacyState(ctx, tx, org, id)
		if err != nil {
			return err
		}
		if !settable(from) || !settable(to) {
			return errf(store.ErrInvalidTransition, "legacy key is %s", from)
		}
		if from == to {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE legacy_keys SET state = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
			string(to), millis(s.now()), org, id)
		return err
	})
}

// DestroyLegacyKey implements store.LegacyKeyStore (see DestroyKey on how
// the erased bytes leave the file).
func (s *Store) DestroyLegacyKey(ctx context.Context, org string, id uint32) error {
	op := fmt.Sprintf("destroy org %q legacy key %d", org, id)
	if err := validVersion(org, id); err != nil {
		return s.fail(ctx, op, err)
	}
	changed := false
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		from, err := legacyState(ctx, tx, org, id)
		if err != nil || from == store.StateDestroyed {
			return err
		}
		changed = true
		_, err = tx.ExecContext(ctx, `UPDATE legacy_keys SET state = 'destroyed', wrapped = NULL, updated_at = ?
			WHERE org_id = ? AND id = ?`, millis(s.now()), org, id)
		return err
	})
	if err == nil && changed {
		_, _ = s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return err
}

// LegacyKeysToRewrap implements store.LegacyKeyStore.
func (s *Store) LegacyKeysToRewrap(ctx context.Context, target store.KEKRef, afterOrg string, afterID uint32, limit int) (keys []store.LegacyKey, err error) {
	op := fmt.Sprintf("legacy keys to rewrap to KEK %q version %d after org %q id %d", target.ID, target.Version, afterOrg, afterID)
	if err := validTarget(target); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+legacyColumns+` FROM legacy_keys
		WHERE (org_id, id) > (?1, ?2) AND state <> 'destroyed' AND (kek_id <> ?3 OR kek_version <> ?4)
		ORDER BY org_id, id LIMIT ?5`, afterOrg, afterID, target.ID, target.Version, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	keys = []store.LegacyKey{}
	for rows.Next() {
		k, err := scanLegacy(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return keys, nil
}

// RewrapLegacyKey implements store.LegacyKeyStore.
func (s *Store) RewrapLegacyKey(ctx context.Context, org string, id uint32, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap org %q legacy key %d from KEK %q version %d to KEK %q version %d",
		org, id, from.ID, from.Version, to.ID, to.Version)
	if err := validRewrap(org, id, from, to, wrapped); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE legacy_keys
			SET kek_id = ?1, kek_version = ?2, wrapped = ?3, updated_at = ?4
			WHERE org_id = ?5 AND id = ?6 AND kek_id = ?7 AND kek_version = ?8 AND state <> 'destroyed'`,
			to.ID, to.Version, wrapped, millis(s.now()), org, id, from.ID, from.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		st, err := legacyState(ctx, tx, org, id)
		if err != nil {
			return err
		}
		return errf(store.ErrStale, "legacy key is %s or wrapped by another KEK than %q version %d", st, from.ID, from.Version)
	})
}

// LegacyKEKCounts implements store.LegacyKeyStore.
func (s *Store) LegacyKEKCounts(ctx context.Context) (counts []store.KEKCount, err error) {
	const op = "count legacy keys by KEK"
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT kek_id, kek_version, count(*) FROM legacy_keys
		WHERE state <> 'destroyed' GROUP BY kek_id, kek_version ORDER BY kek_id, kek_version`)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	counts = []store.KEKCount{}
	for rows.Next() {
		var (
			c      store.KEKCount
			kekVer int64
		)
		if err := rows.Scan(&c.KEK.ID, &kekVer, &c.Count); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		c.KEK.Version = uint32(kekVer)
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return counts, nil
}
