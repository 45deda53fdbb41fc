package sqlite

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/store"
)

// Changes implements store.Store. The feed is the key_changes table, which
// the schema's triggers append to in the transaction of each key change.
// SQLite has one writer at a time and AUTOINCREMENT hands out seq under its
// lock, so seq order is commit order: a reader that saw seq n never later
// finds a new change below n. A limit below 1 is store.ErrInvalidArgument.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (changes []store.Change, err error) {
	op := fmt.Sprintf("changes after %d", after)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, org_id FROM key_changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			changes, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	changes = []store.Change{}
	for rows.Next() {
		var c store.Change
		if err := rows.Scan(&c.Seq, &c.Org); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return changes, nil
}

// LastChange implements store.Store. The feed is append-only (the schema
// forbids deletes), so the highest seq present is the highest ever handed
// out.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	const op = "last change"
	if err := s.begin(ctx); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	var seq int64
	if err := s.r.QueryRowContext(ctx,
		`SELECT coalesce(max(seq), 0) FROM key_changes`,
	).Scan(&seq); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return seq, nil
}
