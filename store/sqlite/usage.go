package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/keyward/keyward/store"
)

// maxUsage is the highest usage count this store can hold: SQLite integers
// are signed 64-bit. At a billion encryptions a second it lasts 292 years;
// a reservation that would pass it is refused rather than wrapped around.
const maxUsage = math.MaxInt64

// ReserveUsage implements store.Store: in one write transaction it adds n to
// the usage of (org, version) and returns the new total.
//
// Reservations are accepted under the active version and under a
// decrypt-only one: a process may still hold a version for encryption for a
// moment after another process rotated it, and what it encrypts then must be
// counted. A retired or destroyed version encrypts nothing any more, so a
// reservation under it is refused with store.ErrInvalidTransition. n == 0
// and a total that would pass maxUsage are store.ErrInvalidArgument; an
// unknown organization or version is store.ErrNotFound. A refused
// reservation changes nothing. A reservation is not a key change: it neither
// touches UpdatedAt nor appends to the change feed.
func (s *Store) ReserveUsage(ctx context.Context, org string, version uint32, n uint64) (uint64, error) {
	op := fmt.Sprintf("reserve usage of org %q version %d", org, version)
	if err := validVersion(org, version); err != nil {
		return 0, s.fail(ctx, op, err)
	}
	if n == 0 {
		return 0, s.fail(ctx, op, errf(store.ErrInvalidArgument, "reservation of 0 encryptions"))
	}
	var total int64
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if n <= maxUsage {
			// The common case in one statement; the WHERE clause keeps
			// every refusal from changing anything, and no row back means
			// one of them applies.
			err := tx.QueryRowContext(ctx, `UPDATE key_versions SET usage = usage + ?1
				WHERE org_id = ?2 AND version = ?3
				  AND state IN ('active', 'decrypt-only') AND usage <= ?4 - ?1
				RETURNING usage`, int64(n), org, version, int64(maxUsage),
			).Scan(&total)
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		return refusedReservation(ctx, tx, org, version, n)
	})
	if err != nil {
		return 0, err
	}
	return uint64(total), nil
}

// refusedReservation explains, inside tx, why adding n to the usage of
// (org, version) was not possible.
func refusedReservation(ctx context.Context, tx *sql.Tx, org string, version uint32, n uint64) error {
	var (
		state string
		usage int64
	)
	err := tx.QueryRowContext(ctx,
		`SELECT state, usage FROM key_versions WHERE org_id = ? AND version = ?`, org, version,
	).Scan(&state, &usage)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case !store.KeyState(state).CanDecrypt():
		return errf(store.ErrInvalidTransition, "version is %s: no encryptions under it", state)
	}
	return errf(store.ErrInvalidArgument, "usage %d + %d would pass the maximum %d", usage, n, uint64(maxUsage))
}
