package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward/store"
)

// CreateOrg implements store.Store. The store sets org.CreatedAt and the
// first version's CreatedAt and UpdatedAt and starts its Usage at 0;
// first.Org must equal org.ID. Inserting version 1 appends one change to the
// feed (see Changes).
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
	return s.write(ctx, op, func(tx *sql.Tx) error {
		now := millis(s.now())
		var taken bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM orgs WHERE id = ?)`, org.ID,
		).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return store.ErrOrgExists
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO orgs (id, created_at) VALUES (?, ?)`, org.ID, now,
		); err != nil {
			return err
		}
		return insertKey(ctx, tx, first, now)
	})
}

// Org implements store.Store.
func (s *Store) Org(ctx context.Context, id string) (store.Org, error) {
	op := fmt.Sprintf("org %q", id)
	if err := validOrg(id); err != nil {
		return store.Org{}, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return store.Org{}, s.fail(ctx, op, err)
	}
	var (
		o  store.Org
		ms int64
	)
	err := s.r.QueryRowContext(ctx,
		`SELECT id, created_at FROM orgs WHERE id = ?`, id,
	).Scan(&o.ID, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Org{}, s.fail(ctx, op, err)
	}
	o.CreatedAt = fromMillis(ms)
	return o, nil
}

// ListOrgs implements store.Store. A limit below 1 is ErrInvalidArgument.
func (s *Store) ListOrgs(ctx context.Context, after string, limit int) (orgs []store.Org, err error) {
	const op = "list orgs"
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT id, created_at FROM orgs WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			orgs, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	orgs = []store.Org{}
	for rows.Next() {
		var (
			o  store.Org
			ms int64
		)
		if err := rows.Scan(&o.ID, &ms); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		o.CreatedAt = fromMillis(ms)
		orgs = append(orgs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return orgs, nil
}
