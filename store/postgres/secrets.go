package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

var _ store.SecretStore = (*Store)(nil)

// maxSecretNameLen is the longest secret name this store holds, in bytes.
// Package secretstore allows 256; the store's own bound keeps (org, name)
// well inside PostgreSQL's limit on index entries (about 2.7 kB).
const maxSecretNameLen = 1024

// secretColumns are the columns scanSecret reads, in its order.
const secretColumns = `org_id, name, kind, hint, ciphertext, key_version, revision, created_at, updated_at`

// scanSecret reads one secrets row. pgx copies bytea into a new slice, so
// the returned Ciphertext belongs to the caller.
func scanSecret(row pgx.Row) (store.Secret, error) {
	var (
		s                    store.Secret
		keyVersion           int64
		createdAt, updatedAt time.Time
	)
	if err := row.Scan(&s.Org, &s.Name, &s.Kind, &s.Hint, &s.Ciphertext, &keyVersion, &s.Revision,
		&createdAt, &updatedAt); err != nil {
		return store.Secret{}, err
	}
	if keyVersion < 1 || keyVersion > math.MaxUint32 || s.Revision < 1 {
		return store.Secret{}, fmt.Errorf("corrupt secret row %q/%q: key version %d, revision %d",
			s.Org, s.Name, keyVersion, s.Revision)
	}
	s.KeyVersion = uint32(keyVersion)
	s.CreatedAt, s.UpdatedAt = utc(createdAt), utc(updatedAt)
	return s, nil
}

// validSecretName checks a secret name that is about to be written.
func validSecretName(name string) error {
	switch {
	case name == "":
		return errf(store.ErrInvalidArgument, "empty secret name")
	case len(name) > maxSecretNameLen:
		return errf(store.ErrInvalidArgument, "secret name of %d bytes, want at most %d", len(name), maxSecretNameLen)
	case !storable(name):
		return errf(store.ErrInvalidArgument, "secret name %q is not UTF-8 without NUL bytes", name)
	}
	return nil
}

// lookupSecret checks the (org, name) of a secret that is about to be read
// or changed. Empty ids are store.ErrInvalidArgument; an id validOrg or
// validSecretName would refuse cannot name a stored secret: found is false,
// and the caller reports store.ErrNotFound without asking the database.
func lookupSecret(org, name string) (found bool, err error) {
	found, err = lookupOrg(org)
	if err != nil {
		return false, err
	}
	if name == "" {
		return false, errf(store.ErrInvalidArgument, "empty secret name")
	}
	return found && validSecretName(name) == nil, nil
}

// validSecret checks a secret about to be written by PutSecret.
func validSecret(s store.Secret, ifRevision int64) error {
	if err := validOrg(s.Org); err != nil {
		return err
	}
	if err := validSecretName(s.Name); err != nil {
		return err
	}
	switch {
	case s.Kind == "":
		return errf(store.ErrInvalidArgument, "empty secret kind")
	case !storable(s.Kind):
		return errf(store.ErrInvalidArgument, "secret kind %q is not UTF-8 without NUL bytes", s.Kind)
	case !storable(s.Hint):
		return errf(store.ErrInvalidArgument, "secret hint is not UTF-8 without NUL bytes")
	case len(s.Ciphertext) == 0:
		return errf(store.ErrInvalidArgument, "secret without ciphertext")
	case s.KeyVersion == 0:
		return errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	case ifRevision < 0:
		return errf(store.ErrInvalidArgument, "revision %d, want 0 (unconditional) or a stored revision", ifRevision)
	}
	return nil
}

// PutSecret implements store.SecretStore. Unconditionally (ifRevision 0) it
// is one INSERT … ON CONFLICT DO UPDATE, which creates or replaces
// atomically; with ifRevision it is one UPDATE matching that revision (at
// READ COMMITTED, an UPDATE that waited for a concurrent writer checks the
// revision again on that writer's row, so of two writers at the same
// revision exactly one wins), and a read in the same transaction tells
// store.ErrStale from store.ErrNotFound when it matched nothing. An unknown
// organization is store.ErrNotFound (the foreign key to orgs). The store
// sets Revision and the times (the database's clock); the returned Secret
// owns its ciphertext.
func (s *Store) PutSecret(ctx context.Context, sec store.Secret, ifRevision int64) (store.Secret, error) {
	op := fmt.Sprintf("put secret %q of org %q", sec.Name, sec.Org)
	if err := validSecret(sec, ifRevision); err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	out := sec
	out.Ciphertext = bytes.Clone(sec.Ciphertext)
	var createdAt, updatedAt time.Time
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		if ifRevision == 0 {
			return tx.QueryRow(ctx, `INSERT INTO secrets AS s
				(org_id, name, kind, hint, ciphertext, key_version)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (org_id, name) DO UPDATE
				SET kind = EXCLUDED.kind, hint = EXCLUDED.hint, ciphertext = EXCLUDED.ciphertext,
				    key_version = EXCLUDED.key_version, revision = s.revision + 1, updated_at = now()
				RETURNING revision, created_at, updated_at`,
				sec.Org, sec.Name, sec.Kind, sec.Hint, sec.Ciphertext, int64(sec.KeyVersion),
			).Scan(&out.Revision, &createdAt, &updatedAt)
		}
		err := tx.QueryRow(ctx, `UPDATE secrets
			SET kind = $3, hint = $4, ciphertext = $5, key_version = $6, revision = revision + 1, updated_at = now()
			WHERE org_id = $1 AND name = $2 AND revision = $7
			RETURNING revision, created_at, updated_at`,
			sec.Org, sec.Name, sec.Kind, sec.Hint, sec.Ciphertext, int64(sec.KeyVersion), ifRevision,
		).Scan(&out.Revision, &createdAt, &updatedAt)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var rev int64
		err = tx.QueryRow(ctx, `SELECT revision FROM secrets WHERE org_id = $1 AND name = $2`,
			sec.Org, sec.Name).Scan(&rev)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errf(store.ErrNotFound, "no secret to replace at revision %d", ifRevision)
		case err != nil:
			return err
		}
		return errf(store.ErrStale, "secret is at revision %d, not %d", rev, ifRevision)
	})
	if err != nil {
		return store.Secret{}, err
	}
	out.CreatedAt, out.UpdatedAt = utc(createdAt), utc(updatedAt)
	return out, nil
}

// GetSecret implements store.SecretStore.
func (s *Store) GetSecret(ctx context.Context, org, name string) (store.Secret, error) {
	op := fmt.Sprintf("get secret %q of org %q", name, org)
	found, err := lookupSecret(org, name)
	if err != nil || !found {
		return store.Secret{}, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	sec, err := scanSecret(s.pool.QueryRow(ctx,
		`SELECT `+secretColumns+` FROM secrets WHERE org_id = $1 AND name = $2`, org, name))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	return sec, nil
}

// ListSecrets implements store.SecretStore: the primary key (org_id, name)
// serves the order and the cursor; names compare bytewise (COLLATE "C"). An
// empty page of an organization that does not exist is store.ErrNotFound
// (organizations are never deleted, so the check after the page cannot race
// with a removal). A limit below 1 and a cursor that is not UTF-8 without
// NUL bytes (no stored name is) are store.ErrInvalidArgument.
func (s *Store) ListSecrets(ctx context.Context, org, after string, limit int) ([]store.Secret, error) {
	op := fmt.Sprintf("list secrets of org %q after %q", org, after)
	found, err := lookupOrg(org)
	switch {
	case err != nil:
	case limit < 1:
		err = errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit)
	case !storable(after):
		err = errf(store.ErrInvalidArgument, "cursor %q is not UTF-8 without NUL bytes", after)
	case !found:
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+secretColumns+` FROM secrets
		WHERE org_id = $1 AND name > $2 ORDER BY name LIMIT $3`, org, after, int64(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	secrets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Secret, error) {
		return scanSecret(row)
	})
	if err == nil && len(secrets) == 0 {
		secrets, err = []store.Secret{}, s.orgExists(ctx, org)
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return secrets, nil
}

// orgExists returns store.ErrNotFound unless org exists.
func (s *Store) orgExists(ctx context.Context, org string) error {
	var found bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM orgs WHERE id = $1)`, org).Scan(&found); err != nil {
		return err
	}
	if !found {
		return errf(store.ErrNotFound, "no organization %q", org)
	}
	return nil
}

// DeleteSecret implements store.SecretStore.
func (s *Store) DeleteSecret(ctx context.Context, org, name string) error {
	op := fmt.Sprintf("delete secret %q of org %q", name, org)
	found, err := lookupSecret(org, name)
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE org_id = $1 AND name = $2`, org, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// SwapSecretCiphertext implements store.SecretStore: one UPDATE matches the
// row only while its ciphertext is still old (at READ COMMITTED the
// condition is checked again on a concurrent writer's committed row, so of
// two swaps from the same ciphertext exactly one wins); if it matches none,
// a second read tells store.ErrNotFound from store.ErrStale. A row deleted
// between the two is reported as not found, which it then is. An empty org,
// name, old or new ciphertext and key version 0 are store.ErrInvalidArgument.
func (s *Store) SwapSecretCiphertext(ctx context.Context, org, name string, old, ciphertext []byte, keyVersion uint32) error {
	op := fmt.Sprintf("swap ciphertext of secret %q of org %q to key version %d", name, org, keyVersion)
	found, err := lookupSecret(org, name)
	switch {
	case err != nil:
	case len(old) == 0:
		err = errf(store.ErrInvalidArgument, "empty old ciphertext")
	case len(ciphertext) == 0:
		err = errf(store.ErrInvalidArgument, "empty new ciphertext")
	case keyVersion == 0:
		err = errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	}
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE secrets
		SET ciphertext = $3, key_version = $4, revision = revision + 1, updated_at = now()
		WHERE org_id = $1 AND name = $2 AND ciphertext = $5`,
		org, name, ciphertext, int64(keyVersion), old)
	if err == nil && tag.RowsAffected() == 0 {
		var exists bool
		err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM secrets WHERE org_id = $1 AND name = $2)`,
			org, name).Scan(&exists)
		switch {
		case err != nil:
		case !exists:
			err = store.ErrNotFound
		default:
			err = errf(store.ErrStale, "secret was written since its ciphertext was read")
		}
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// SecretVersionCounts implements store.SecretStore, from the index
// secrets_key_version. An organization without secrets has no counts; one
// that does not exist is store.ErrNotFound.
func (s *Store) SecretVersionCounts(ctx context.Context, org string) ([]store.VersionCount, error) {
	op := fmt.Sprintf("count secrets of org %q by key version", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return nil, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT key_version, count(*) FROM secrets
		WHERE org_id = $1 GROUP BY key_version ORDER BY key_version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.VersionCount, error) {
		var v, n int64
		if err := row.Scan(&v, &n); err != nil {
			return store.VersionCount{}, err
		}
		if v < 1 || v > math.MaxUint32 {
			return store.VersionCount{}, fmt.Errorf("corrupt key version %d of a secret", v)
		}
		return store.VersionCount{Version: uint32(v), Count: n}, nil
	})
	if err == nil && len(counts) == 0 {
		counts, err = []store.VersionCount{}, s.orgExists(ctx, org)
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return counts, nil
}
