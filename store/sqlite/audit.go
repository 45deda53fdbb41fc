package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward/store"
)

var _ store.AuditStore = (*Store)(nil)

// auditColumns are the columns scanAudit reads, in its order.
const auditColumns = `seq, at, request_id, token_id, org_id, action, name, context, key_version, outcome, code, value_mac, mac`

// InitAuditKey implements store.AuditStore.
func (s *Store) InitAuditKey(ctx context.Context, k store.AuditKey) (store.AuditKey, error) {
	const op = "init audit key"
	if k.KEKID == "" || len(k.Wrapped) == 0 {
		return store.AuditKey{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "audit key without KEK id or wrapped bytes"))
	}
	var out store.AuditKey
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO audit_key (id, kek_id, kek_version, wrapped, created_at) VALUES (1, ?, ?, ?, ?)
			 ON CONFLICT (id) DO NOTHING`,
			k.KEKID, int64(k.KEKVersion), k.Wrapped, millis(s.now()),
		); err != nil {
			return err
		}
		var err error
		out, err = scanAuditKey(tx.QueryRowContext(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
		return err
	})
	if err != nil {
		return store.AuditKey{}, err
	}
	return out, nil
}

// AuditKey implements store.AuditStore.
func (s *Store) AuditKey(ctx context.Context) (store.AuditKey, error) {
	const op = "audit key"
	if err := s.begin(ctx); err != nil {
		return store.AuditKey{}, s.fail(ctx, op, err)
	}
	k, err := scanAuditKey(s.r.QueryRowContext(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
	if err != nil {
		return store.AuditKey{}, s.fail(ctx, op, err)
	}
	return k, nil
}

// RewrapAuditKey implements store.AuditStore: in one write transaction, a
// single UPDATE replaces the KEK and wrapped bytes of the audit key if it is
// still wrapped by from (compare-and-swap); if it matches no row, a read in
// the same transaction tells store.ErrNotFound (no audit key) from
// store.ErrStale (wrapped by another KEK version). The store keeps its own
// copy of wrapped.
func (s *Store) RewrapAuditKey(ctx context.Context, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap audit key from KEK %q version %d to KEK %q version %d",
		from.ID, from.Version, to.ID, to.Version)
	if err := validAuditRewrap(from, to, wrapped); err != nil {
		return s.fail(ctx, op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE audit_key SET kek_id = ?1, kek_version = ?2, wrapped = ?3
			WHERE id = 1 AND kek_id = ?4 AND kek_version = ?5`,
			to.ID, int64(to.Version), wrapped, from.ID, int64(from.Version))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 1 {
			return err
		}
		cur, err := scanAuditKey(tx.QueryRowContext(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
		if err != nil {
			return err // store.ErrNotFound when there is no audit key
		}
		return errf(store.ErrStale, "the audit key is wrapped by KEK %q version %d, not %q version %d",
			cur.KEKID, cur.KEKVersion, from.ID, from.Version)
	})
}

func scanAuditKey(row *sql.Row) (store.AuditKey, error) {
	var (
		k       store.AuditKey
		version int64
		created int64
	)
	err := row.Scan(&k.KEKID, &version, &k.Wrapped, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuditKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.AuditKey{}, err
	}
	k.KEKVersion = uint32(version)
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// AppendAudit implements store.AuditStore. The transaction starts with
// BEGIN IMMEDIATE (the writer pool), so it holds SQLite's write lock from
// the start: no other process appends between reading the head and
// committing.
func (s *Store) AppendAudit(ctx context.Context, build func(head store.AuditHead) ([]store.AuditEvent, error)) error {
	const op = "append audit events"
	return s.write(ctx, op, func(tx *sql.Tx) error {
		var head store.AuditHead
		if err := tx.QueryRowContext(ctx, `SELECT seq, mac FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.MAC); err != nil {
			return err
		}
		events, err := build(head)
		if err != nil {
			return err
		}
		if err := checkAppend(head, events); err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range events {
			if _, err := stmt.ExecContext(ctx, e.Seq, millis(e.Time), e.RequestID, e.TokenID, e.Org,
				e.Action, e.Name, e.Context, int64(e.KeyVersion), e.Outcome, e.Code, e.ValueMAC, e.MAC); err != nil {
				return err
			}
		}
		last := events[len(events)-1]
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, last.Seq, last.MAC)
		return err
	})
}

// checkAppend checks that events continue the chain at head.
func checkAppend(head store.AuditHead, events []store.AuditEvent) error {
	for i, e := range events {
		switch {
		case e.Seq != head.Seq+1+int64(i):
			return errf(store.ErrInvalidArgument, "audit event seq %d, want %d", e.Seq, head.Seq+1+int64(i))
		case len(e.MAC) != store.AuditMACSize:
			return errf(store.ErrInvalidArgument, "audit event %d: MAC of %d bytes, want %d", e.Seq, len(e.MAC), store.AuditMACSize)
		}
	}
	return nil
}

// AuditHead implements store.AuditStore.
func (s *Store) AuditHead(ctx context.Context) (store.AuditHead, error) {
	const op = "audit head"
	if err := s.begin(ctx); err != nil {
		return store.AuditHead{}, s.fail(ctx, op, err)
	}
	var h store.AuditHead
	if err := s.r.QueryRowContext(ctx, `SELECT seq, mac FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.MAC); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = errf(store.ErrNotFound, "the audit chain head row is missing")
		}
		return store.AuditHead{}, s.fail(ctx, op, err)
	}
	return h, nil
}

// AuditEvents implements store.AuditStore.
func (s *Store) AuditEvents(ctx context.Context, after int64, limit int) (events []store.AuditEvent, err error) {
	op := fmt.Sprintf("audit events after %d", after)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			events, err = nil, s.fail(ctx, op, cerr)
		}
	}()
	events = []store.AuditEvent{}
	for rows.Next() {
		var (
			e      store.AuditEvent
			at, kv int64
		)
		if err := rows.Scan(&e.Seq, &at, &e.RequestID, &e.TokenID, &e.Org, &e.Action, &e.Name, &e.Context,
			&kv, &e.Outcome, &e.Code, &e.ValueMAC, &e.MAC); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		e.Time = fromMillis(at)
		e.KeyVersion = uint32(kv)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return events, nil
}
