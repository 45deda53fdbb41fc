package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// ShredOrg implements store.Shredder: in one write transaction it records
// the organization in org_shreds (which lets the schema's transition trigger
// destroy the active version) and destroys every key version and legacy key
// that is not destroyed yet. Each destroyed key appends one change. After
// the commit it asks for a WAL checkpoint, as DestroyKey does.
func (s *Store) ShredOrg(ctx context.Context, org string) error {
	op := fmt.Sprintf("shred org %q", org)
	if err := validOrg(org); err != nil {
		return s.fail(ctx, op, err)
	}
	changed := false
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		var exists, shredded bool
		if err := tx.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM orgs WHERE id = ?1),
			EXISTS (SELECT 1 FROM org_shreds WHERE org_id = ?1)`, org).Scan(&exists, &shredded); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		if shredded {
			return nil
		}
		changed = true
		now := millis(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_shreds (org_id, shredded_at) VALUES (?, ?)`, org, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE key_versions SET state = 'destroyed', wrapped = NULL, updated_at = ?
			WHERE org_id = ? AND state <> 'destroyed'`, now, org); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE legacy_keys SET state = 'destroyed', wrapped = NULL, updated_at = ?
			WHERE org_id = ? AND state <> 'destroyed'`, now, org)
		return err
	})
	if err == nil && changed {
		_, _ = s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return err
}

// ShreddedAt implements store.Shredder.
func (s *Store) ShreddedAt(ctx context.Context, org string) (time.Time, error) {
	op := fmt.Sprintf("shredding of org %q", org)
	if err := validOrg(org); err != nil {
		return time.Time{}, s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return time.Time{}, s.fail(ctx, op, err)
	}
	var (
		exists bool
		at     sql.NullInt64
	)
	if err := s.r.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM orgs WHERE id = ?1),
		(SELECT shredded_at FROM org_shreds WHERE org_id = ?1)`, org).Scan(&exists, &at); err != nil {
		return time.Time{}, s.fail(ctx, op, err)
	}
	if !exists {
		return time.Time{}, s.fail(ctx, op, store.ErrNotFound)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return fromMillis(at.Int64), nil
}
