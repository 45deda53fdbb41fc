package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

var _ store.AuditStore = (*Store)(nil)

// auditColumns are the columns of audit_events in the order of scanAudit
// and of AppendAudit's COPY.
var auditColumns = []string{"seq", "at", "request_id", "token_id", "org_id", "action", "name", "context",
	"key_version", "outcome", "code", "value_mac", "mac"}

const auditSelect = `seq, at, request_id, token_id, org_id, action, name, context, key_version, outcome, code, value_mac, mac`

// InitAuditKey implements store.AuditStore.
func (s *Store) InitAuditKey(ctx context.Context, k store.AuditKey) (store.AuditKey, error) {
	const op = "init audit key"
	switch {
	case k.KEKID == "" || len(k.Wrapped) == 0:
		return store.AuditKey{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "audit key without KEK id or wrapped bytes"))
	case !storable(k.KEKID):
		return store.AuditKey{}, s.fail(ctx, op, errf(store.ErrInvalidArgument, "KEK id is not UTF-8 without NUL bytes"))
	}
	var out store.AuditKey
	err := s.write(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_key (id, kek_id, kek_version, wrapped, created_at)
			VALUES (1, $1, $2, $3, now()) ON CONFLICT (id) DO NOTHING`,
			k.KEKID, int64(k.KEKVersion), k.Wrapped); err != nil {
			return err
		}
		var err error
		out, err = scanAuditKey(tx.QueryRow(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
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
	k, err := scanAuditKey(s.pool.QueryRow(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
	if err != nil {
		return store.AuditKey{}, s.fail(ctx, op, err)
	}
	return k, nil
}

// RewrapAuditKey implements store.AuditStore: one UPDATE replaces the KEK
// and wrapped bytes of the audit key if it is still wrapped by from
// (compare-and-swap). At READ COMMITTED, an UPDATE that waited for a
// concurrent writer of the row checks its WHERE clause again on the row that
// writer committed, so of two rewraps from the same KEK version exactly one
// matches. If none matches, a second read tells store.ErrNotFound (no audit
// key; it is never deleted, so there was none at the UPDATE either) from
// store.ErrStale. KEK ids that are not UTF-8 without NUL bytes are
// store.ErrInvalidArgument, as are the arguments store.AuditStore names.
func (s *Store) RewrapAuditKey(ctx context.Context, from, to store.KEKRef, wrapped []byte) error {
	op := fmt.Sprintf("rewrap audit key from KEK %q version %d to KEK %q version %d",
		from.ID, from.Version, to.ID, to.Version)
	if err := validRewrap(from, to, wrapped); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE audit_key SET kek_id = $3, kek_version = $4, wrapped = $5
		WHERE id = 1 AND kek_id = $1 AND kek_version = $2`,
		from.ID, int64(from.Version), to.ID, int64(to.Version), wrapped)
	if err == nil && tag.RowsAffected() == 0 {
		var cur store.AuditKey
		cur, err = scanAuditKey(s.pool.QueryRow(ctx, `SELECT kek_id, kek_version, wrapped, created_at FROM audit_key WHERE id = 1`))
		if err == nil {
			err = errf(store.ErrStale, "the audit key is wrapped by KEK %q version %d, not %q version %d",
				cur.KEKID, cur.KEKVersion, from.ID, from.Version)
		}
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

func scanAuditKey(row pgx.Row) (store.AuditKey, error) {
	var (
		k       store.AuditKey
		version int64
	)
	err := row.Scan(&k.KEKID, &version, &k.Wrapped, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AuditKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.AuditKey{}, err
	}
	if version < 0 || version > math.MaxUint32 {
		return store.AuditKey{}, fmt.Errorf("corrupt audit key row: kek version %d", version)
	}
	k.KEKVersion = uint32(version)
	k.CreatedAt = utc(k.CreatedAt)
	return k, nil
}

// AppendAudit implements store.AuditStore. The transaction locks the chain
// head row (FOR UPDATE) before build runs, so appends from any number of
// processes queue on that row and each continues the chain where the last
// commit left it. The events go in with one COPY.
func (s *Store) AppendAudit(ctx context.Context, build func(head store.AuditHead) ([]store.AuditEvent, error)) error {
	const op = "append audit events"
	return s.write(ctx, op, func(tx pgx.Tx) error {
		var head store.AuditHead
		if err := tx.QueryRow(ctx, `SELECT seq, mac FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&head.Seq, &head.MAC); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errf(store.ErrNotFound, "the audit chain head row is missing")
			}
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
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumns,
			pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
				e := events[i]
				return []any{e.Seq, e.Time, e.RequestID, e.TokenID, e.Org, e.Action, e.Name, e.Context,
					int64(e.KeyVersion), e.Outcome, e.Code, e.ValueMAC, e.MAC}, nil
			}))
		if err != nil {
			return err
		}
		if n != int64(len(events)) {
			return fmt.Errorf("copied %d audit events, want %d", n, len(events))
		}
		last := events[len(events)-1]
		_, err = tx.Exec(ctx, `UPDATE audit_head SET seq = $1, mac = $2 WHERE id = 1`, last.Seq, last.MAC)
		return err
	})
}

// checkAppend checks that events continue the chain at head and can be
// stored (text columns hold no NUL bytes or invalid UTF-8).
func checkAppend(head store.AuditHead, events []store.AuditEvent) error {
	for i, e := range events {
		switch {
		case e.Seq != head.Seq+1+int64(i):
			return errf(store.ErrInvalidArgument, "audit event seq %d, want %d", e.Seq, head.Seq+1+int64(i))
		case len(e.MAC) != store.AuditMACSize:
			return errf(store.ErrInvalidArgument, "audit event %d: MAC of %d bytes, want %d", e.Seq, len(e.MAC), store.AuditMACSize)
		}
		for _, f := range []string{e.RequestID, e.TokenID, e.Org, e.Action, e.Name, e.Context, e.Outcome, e.Code, e.ValueMAC} {
			if !storable(f) {
				return errf(store.ErrInvalidArgument, "audit event %d: a field is not UTF-8 without NUL bytes", e.Seq)
			}
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
	if err := s.pool.QueryRow(ctx, `SELECT seq, mac FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.MAC); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = errf(store.ErrNotFound, "the audit chain head row is missing")
		}
		return store.AuditHead{}, s.fail(ctx, op, err)
	}
	return h, nil
}

// AuditEvents implements store.AuditStore.
func (s *Store) AuditEvents(ctx context.Context, after int64, limit int) ([]store.AuditEvent, error) {
	op := fmt.Sprintf("audit events after %d", after)
	if limit < 1 {
		return nil, s.fail(ctx, op, errf(store.ErrInvalidArgument, "limit %d, want at least 1", limit))
	}
	if err := s.begin(ctx); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditSelect+` FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEvent, error) {
		var (
			e  store.AuditEvent
			at time.Time
			kv int64
		)
		if err := r.Scan(&e.Seq, &at, &e.RequestID, &e.TokenID, &e.Org, &e.Action, &e.Name, &e.Context,
			&kv, &e.Outcome, &e.Code, &e.ValueMAC, &e.MAC); err != nil {
			return store.AuditEvent{}, err
		}
		if kv < 0 || kv > math.MaxUint32 {
			return store.AuditEvent{}, fmt.Errorf("corrupt audit event %d: key version %d", e.Seq, kv)
		}
		e.Time, e.KeyVersion = utc(at), uint32(kv)
		return e, nil
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if events == nil {
		events = []store.AuditEvent{}
	}
	return events, nil
}
