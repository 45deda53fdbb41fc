package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// Changes implements store.Store. The feed is the changes table, which the
// schema's triggers append to in the transaction of each key change, taking
// seq from the one-row change_counter: its row lock is held until commit, so
// seq order is commit order, and a reader that saw seq n never later finds
// a new change below n. A limit below 1 is store.ErrInvalidArgument.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	op := fmt.Sprintf("changes after %d", after)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT seq, org_id FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2`, after, int64(limit))
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	changes := []store.Change{}
	var c store.Change
	if _, err := pgx.ForEachRow(rows, []any{&c.Seq, &c.Org}, func() error {
		changes = append(changes, c)
		return nil
	}); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return changes, nil
}

// LastChange implements store.Store: the counter holds the highest seq
// committed (an uncommitted increment is invisible, a rolled back one
// undone).
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	const op = "last change"
	if err := s.begin(ctx); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM change_counter`).Scan(&seq); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return seq, nil
}
