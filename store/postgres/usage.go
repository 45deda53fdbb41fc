package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// maxUsage is the highest usage count this store holds: the column is a
// bigint. At a billion encryptions a second it lasts 292 years; a
// reservation that would pass it is refused rather than wrapped around.
const maxUsage = math.MaxInt64

// ReserveUsage implements store.Store: it adds n to the usage of (org,
// version) and returns the new total, in one UPDATE … RETURNING whose row
// lock serialises concurrent reservations from any number of processes, so
// none is lost.
//
// Reservations are accepted under the active version and under a
// decrypt-only one (a process may still encrypt under a version another
// process just rotated, and that must be counted); a retired or destroyed
// version is refused with store.ErrInvalidTransition. n == 0 and a total
// past maxUsage are store.ErrInvalidArgument; an unknown organization or
// version is store.ErrNotFound. A refused reservation changes nothing. A
// reservation is not a key change: it neither touches UpdatedAt nor appends
// to the change feed.
func (s *Store) ReserveUsage(ctx context.Context, org string, version uint32, n uint64) (uint64, error) {
	op := fmt.Sprintf("reserve usage of org %q version %d", org, version)
	found, err := lookupVersion(org, version)
	if err == nil && n == 0 {
		err = errf(store.ErrInvalidArgument, "reservation of 0 encryptions")
	}
	if err != nil || !found {
		return 0, s.fail(ctx, op, notFoundUnless(err))
	}
	if err := s.begin(ctx); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	if n <= maxUsage {
		// The common case in one statement; the WHERE clause keeps every
		// refusal from changing anything, and no row back means one of them
		// applies.
		var total int64
		err := s.pool.QueryRow(ctx, `UPDATE key_versions SET usage = usage + $3
			WHERE org_id = $1 AND version = $2
			  AND state IN ('active', 'decrypt-only') AND usage <= $4::bigint - $3::bigint
			RETURNING usage`, org, int64(version), int64(n), int64(maxUsage),
		).Scan(&total)
		if err == nil {
			return uint64(total), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, s.fail(ctx, op, err)
		}
	}
	total, err := s.reserveChecked(ctx, org, version, n)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return total, nil
}

// reserveChecked is ReserveUsage's slow path: in a transaction holding the
// version's row lock, it finds out why the reservation is refused, or makes
// it if nothing refuses it any more (a concurrent SetKeyState reinstated the
// version in between).
func (s *Store) reserveChecked(ctx context.Context, org string, version uint32, n uint64) (uint64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			state string
			usage int64
		)
		err := tx.QueryRow(ctx, `SELECT state, usage FROM key_versions
			WHERE org_id = $1 AND version = $2 FOR UPDATE`, org, int64(version),
		).Scan(&state, &usage)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case !store.KeyState(state).CanDecrypt():
			return errf(store.ErrInvalidTransition, "version is %s: no encryptions under it", state)
		case n > maxUsage || usage > maxUsage-int64(n):
			return errf(store.ErrInvalidArgument, "usage %d + %d would pass the maximum %d", usage, n, uint64(maxUsage))
		}
		return tx.QueryRow(ctx, `UPDATE key_versions SET usage = usage + $3
			WHERE org_id = $1 AND version = $2 RETURNING usage`, org, int64(version), int64(n),
		).Scan(&total)
	})
	return uint64(total), err
}
