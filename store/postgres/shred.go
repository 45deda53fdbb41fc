package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// ShredOrg implements store.Shredder. In one transaction it locks the
// organization's row (as AddKey and AddLegacyKey do, so no key can be added
// meanwhile), then every key row of the organization, records the shred
// (which lets the update trigger destroy the active version) and destroys
// every key. All row locks are taken before the first change is appended,
// keeping 0001's lock order (the change counter last). Each destroyed key
// appends one change. The old row versions stay in the heap until VACUUM,
// as with DestroyKey.
func (s *Store) ShredOrg(ctx context.Context, org string) error {
	op := fmt.Sprintf("shred org %q", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return s.fail(ctx, op, notFoundUnless(err))
	}
	return s.write(ctx, op, func(tx pgx.Tx) error {
		shredded, err := lockOrg(ctx, tx, org)
		if err != nil || shredded {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT FROM key_versions WHERE org_id = $1 FOR UPDATE`, org); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT FROM legacy_keys WHERE org_id = $1 FOR UPDATE`, org); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_shreds (org_id, shredded_at) VALUES ($1, now())`, org); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE key_versions SET state = 'destroyed', wrapped = NULL, updated_at = now()
			WHERE org_id = $1 AND state <> 'destroyed'`, org); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE legacy_keys SET state = 'destroyed', wrapped = NULL, updated_at = now()
			WHERE org_id = $1 AND state <> 'destroyed'`, org)
		return err
	})
}

// ShreddedAt implements store.Shredder.
func (s *Store) ShreddedAt(ctx context.Context, org string) (time.Time, error) {
	op := fmt.Sprintf("shredding of org %q", org)
	found, err := lookupOrg(org)
	if err != nil || !found {
		return time.Time{}, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return time.Time{}, s.fail(ctx, op, err)
	}
	var at *time.Time
	err = s.pool.QueryRow(ctx, `SELECT (SELECT shredded_at FROM org_shreds WHERE org_id = o.id)
		FROM orgs o WHERE o.id = $1`, org).Scan(&at)
	if err == pgx.ErrNoRows {
		return time.Time{}, s.fail(ctx, op, store.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, s.fail(ctx, op, err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return utc(*at), nil
}
