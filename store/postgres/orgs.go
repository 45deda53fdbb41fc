package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// createOrgSQL inserts the organization and its version 1 in one statement,
// so in one implicit transaction: the connection dying at any point leaves
// either both rows or neither. (The schema checks the same at commit: an
// organization without version 1 cannot be committed.) The key's insert
// trigger appends the change and notifies listeners. A taken id fails on
// orgs_pkey, which classify maps to store.ErrOrgExists.
const createOrgSQL = `WITH o AS (
	INSERT INTO orgs (id, created_at) VALUES ($1, now()) RETURNING id
)
INSERT INTO key_versions (org_id, version, state, kek_id, kek_version, wrapped, usage, created_at, updated_at)
SELECT id, 1, 'active', $2, $3, $4, 0, now(), now() FROM o`

// CreateOrg implements store.Store. The store sets org.CreatedAt and the
// first version's CreatedAt and UpdatedAt (the database's clock) and starts
// its Usage at 0; first.Org must equal org.ID.
func (s *Store) CreateOrg(ctx context.Context, org store.Org, first store.KeyVersion) error {
	op := fmt.Sprintf("create org %q", org.ID)
	if err := validOrg(org.ID); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := validNewKey(first); err != nil {
		return s.fail(ctx, op, err)
	}
	switch {
	case first.Org != org.ID:
		return s.fail(ctx, op, errf(store.ErrInvalidArgument, "first key version belongs to org %q", first.Org))
	case first.Version != 1:
		return s.fail(ctx, op, errf(store.ErrInvalidArgument, "first key version is %d, want 1", first.Version))
	}
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tag, err := s.pool.Exec(ctx, createOrgSQL, org.ID, first.KEKID, int64(first.KEKVersion), first.Wrapped)
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("inserted %d key versions, want 1", tag.RowsAffected())
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// Org implements store.Store.
func (s *Store) Org(ctx context.Context, id string) (store.Org, error) {
	op := fmt.Sprintf("org %q", id)
	found, err := lookupOrg(id)
	if err != nil || !found {
		return store.Org{}, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return store.Org{}, s.fail(ctx, op, err)
	}
	var o store.Org
	err = s.pool.QueryRow(ctx, `SELECT id, created_at FROM orgs WHERE id = $1`, id).Scan(&o.ID, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Org{}, s.fail(ctx, op, err)
	}
	o.CreatedAt = utc(o.CreatedAt)
	return o, nil
}

// ListOrgs implements store.Store. Ids compare bytewise (COLLATE "C"). A
// limit below 1 is ErrInvalidArgument, and so is a cursor that is not UTF-8
// without NUL bytes (no stored id is).
func (s *Store) ListOrgs(ctx context.Context, after string, limit int) ([]store.Org, error) {
	const op = "list orgs"
	switch {
	case limit < 1:
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	case !storable(after):
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "cursor %q is not UTF-8 without NUL bytes", after))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT id, created_at FROM orgs WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	orgs := []store.Org{}
	var o store.Org
	_, err = pgx.ForEachRow(rows, []any{&o.ID, &o.CreatedAt}, func() error {
		orgs = append(orgs, store.Org{ID: o.ID, CreatedAt: utc(o.CreatedAt)})
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return orgs, nil
}
