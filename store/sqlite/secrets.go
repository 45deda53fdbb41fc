package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/store"
)

var _ store.SecretStore = (*Store)(nil)

// secretColumns are the columns scanSecret reads, in its order.
const secretColumns = `org_id, name, kind, hint, ciphertext, key_version, revision, created_at, updated_at`

// scanSecret reads one secrets row. database/sql copies the ciphertext, so
// the returned slice belongs to the caller.
func scanSecret(row interface{ Scan(...any) error }) (store.Secret, error) {
	var (
		s                  store.Secret
		keyVersion         int64
		created, updatedAt int64
	)
	if err := row.Scan(&s.Org, &s.Name, &s.Kind, &s.Hint, &s.Ciphertext, &keyVersion, &s.Revision, &created, &updatedAt); err != nil {
		return store.Secret{}, err
	}
	if keyVersion < 1 || keyVersion > math.MaxUint32 || s.Revision < 1 {
		return store.Secret{}, fmt.Errorf("corrupt secret row %q/%q: key version %d, revision %d", s.Org, s.Name, keyVersion, s.Revision)
	}
	s.KeyVersion = uint32(keyVersion)
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updatedAt)
	return s, nil
}

// validSecretKey checks the (org, name) of a secret argument.
func validSecretKey(org, name string) error {
	if err := validOrg(org); err != nil {
		return err
	}
	if name == "" {
		return errf(store.ErrInvalidArgument, "empty secret name")
	}
	return nil
}

// validSecret checks a secret about to be written by PutSecret.
func validSecret(s store.Secret, ifRevision int64) error {
	if err := validSecretKey(s.Org, s.Name); err != nil {
		return err
	}
	switch {
	case s.Kind == "":
		return errf(store.ErrInvalidArgument, "empty secret kind")
	case len(s.Ciphertext) == 0:
		return errf(store.ErrInvalidArgument, "secret without ciphertext")
	case s.KeyVersion == 0:
		return errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	case ifRevision < 0:
		return errf(store.ErrInvalidArgument, "revision %d, want 0 (unconditional) or a stored revision", ifRevision)
	}
	return nil
}

// PutSecret implements store.SecretStore. In one write transaction it reads
// the current revision of (s.Org, s.Name), decides (create, replace, or
// store.ErrStale / store.ErrNotFound under ifRevision) and writes. The
// store sets Revision, CreatedAt (kept on replace) and UpdatedAt; an unknown
// organization is store.ErrNotFound (the foreign key to orgs). The returned
// Secret owns its ciphertext: it is a copy of s.Ciphertext.
func (s *Store) PutSecret(ctx context.Context, sec store.Secret, ifRevision int64) (store.Secret, error) {
	op := fmt.Sprintf("put secret %q of org %q", sec.Name, sec.Org)
	if err := validSecret(sec, ifRevision); err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	out := sec
	out.Ciphertext = bytes.Clone(sec.Ciphertext)
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		now := millis(s.now())
		var rev, created int64
		err := tx.QueryRowContext(ctx,
			`SELECT revision, created_at FROM secrets WHERE org_id = ? AND name = ?`, sec.Org, sec.Name,
		).Scan(&rev, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if ifRevision != 0 {
				return errf(store.ErrNotFound, "no secret to replace at revision %d", ifRevision)
			}
			rev, created = 0, now
			_, err = tx.ExecContext(ctx, `INSERT INTO secrets (`+secretColumns+`)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)`,
				sec.Org, sec.Name, sec.Kind, sec.Hint, sec.Ciphertext, int64(sec.KeyVersion), now)
		case err != nil:
			return err
		case ifRevision != 0 && rev != ifRevision:
			return errf(store.ErrStale, "secret is at revision %d, not %d", rev, ifRevision)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE secrets
				SET kind = ?1, hint = ?2, ciphertext = ?3, key_version = ?4, revision = ?5, updated_at = ?6
				WHERE org_id = ?7 AND name = ?8`,
				sec.Kind, sec.Hint, sec.Ciphertext, int64(sec.KeyVersion), rev+1, now, sec.Org, sec.Name)
		}
		if err != nil {
			return err
		}
		out.Revision = rev + 1
		out.CreatedAt, out.UpdatedAt = fromMillis(created), fromMillis(now)
		return nil
	})
	if err != nil {
		return store.Secret{}, err
	}
	return out, nil
}

// GetSecret implements store.SecretStore.
func (s *Store) GetSecret(ctx context.Context, org, name string) (store.Secret, error) {
	op := fmt.Sprintf("get secret %q of org %q", name, org)
	if err := validSecretKey(org, name); err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	sec, err := scanSecret(s.r.QueryRowContext(ctx,
		`SELECT `+secretColumns+` FROM secrets WHERE org_id = ? AND name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Secret{}, s.fail(ctx, op, err)
	}
	return sec, nil
}

// ListSecrets implements store.SecretStore: the primary key (org_id, name)
// serves the order and the cursor. Names compare bytewise (BINARY
// collation). An empty page of an organization that does not exist is
// store.ErrNotFound; organizations are never deleted, so the check after
// the page cannot race with a removal.
func (s *Store) ListSecrets(ctx context.Context, org, after string, limit int) (secrets []store.Secret, err error) {
	op := fmt.Sprintf("list secrets of org %q after %q", org, after)
	if err := validOrg(org); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets
		WHERE org_id = ? AND name > ? ORDER BY name LIMIT ?`, org, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			secrets, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	secrets = []store.Secret{}
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		secrets = append(secrets, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(secrets) == 0 {
		if err := s.orgExists(ctx, org); err != nil {
			return nil, s.fail(ctx, op, err)
		}
	}
	return secrets, nil
}

// orgExists returns store.ErrNotFound unless org exists.
func (s *Store) orgExists(ctx context.Context, org string) error {
	var found bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?)`, org).Scan(&found); err != nil {
		return err
	}
	if !found {
		return errf(store.ErrNotFound, "no organization %q", org)
	}
	return nil
}

// DeleteSecret implements store.SecretStore. The writer connections run
// with secure_delete, so the ciphertext is overwritten in the file.
func (s *Store) DeleteSecret(ctx context.Context, org, name string) error {
	op := fmt.Sprintf("delete secret %q of org %q", name, org)
	if err := validSecretKey(org, name); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE org_id = ? AND name = ?`, org, name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// SwapSecretCiphertext implements store.SecretStore: one UPDATE matches the
// row only while its ciphertext is still old; if it matches none, a read in
// the same transaction tells store.ErrNotFound from store.ErrStale. An empty
// org, name, old or new ciphertext and key version 0 are
// store.ErrInvalidArgument.
func (s *Store) SwapSecretCiphertext(ctx context.Context, org, name string, old, ciphertext []byte, keyVersion uint32) error {
	op := fmt.Sprintf("swap ciphertext of secret %q of org %q to key version %d", name, org, keyVersion)
	err := validSecretKey(org, name)
	switch {
	case err != nil:
	case len(old) == 0:
		err = errf(store.ErrInvalidArgument, "empty old ciphertext")
	case len(ciphertext) == 0:
		err = errf(store.ErrInvalidArgument, "empty new ciphertext")
	case keyVersion == 0:
		err = errf(store.ErrInvalidArgument, "key version 0 (versions start at 1)")
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE secrets
			SET ciphertext = ?1, key_version = ?2, revision = revision + 1, updated_at = ?3
			WHERE org_id = ?4 AND name = ?5 AND ciphertext = ?6`,
			ciphertext, int64(keyVersion), millis(s.now()), org, name, old)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 1 {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM secrets WHERE org_id = ? AND name = ?)`, org, name,
		).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		return errf(store.ErrStale, "secret was written since its ciphertext was read")
	})
}

// SecretVersionCounts implements store.SecretStore: a covering scan of the
// index secrets_key_version. An organization without secrets has no counts;
// one that does not exist is store.ErrNotFound.
func (s *Store) SecretVersionCounts(ctx context.Context, org string) (counts []store.VersionCount, err error) {
	op := fmt.Sprintf("count secrets of org %q by key version", org)
	if err := validOrg(org); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT key_version, count(*) FROM secrets
		WHERE org_id = ? GROUP BY key_version ORDER BY key_version`, org)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			counts, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	counts = []store.VersionCount{}
	for rows.Next() {
		var v, n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		if v < 1 || v > math.MaxUint32 {
			return nil, s.fail(ctx, op, fmt.Errorf("corrupt key version %d of a secret", v))
		}
		counts = append(counts, store.VersionCount{Version: uint32(v), Count: n})
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(counts) == 0 {
		if err := s.orgExists(ctx, org); err != nil {
			return nil, s.fail(ctx, op, err)
		}
	}
	return counts, nil
}
