package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/store"
)

// closeTimeout bounds the polite goodbye (a Terminate message) to a
// listening connection whose Listen is over.
const closeTimeout = 5 * time.Second

// Listen implements store.Notifier with LISTEN/NOTIFY on the schema's
// channel. It opens a connection of its own, outside the pool (a listening
// connection is held for as long as Listen runs), subscribes, calls ready,
// and then calls notify for each change committed by any process, in the
// order PostgreSQL delivers them (commit order). Notifications on the
// channel that are not keyward's (someone ran NOTIFY by hand) are skipped.
//
// It returns when ctx ends (an error wrapping ctx.Err()), when the store is
// closed (ErrClosed), or when the connection fails (an error wrapping
// store.ErrUnavailable); the caller re-invokes it to reconnect, and polls
// Changes after ready to cover what it may have missed in between. The
// connection is always closed on return.
func (s *Store) Listen(ctx context.Context, ready func(), notify func(store.Change)) error {
	const op = "listen"
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.shutdown, cancel) // Close ends Listen
	defer stop()

	conn, err := pgx.ConnectConfig(ctx, s.listenConfig.Copy())
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return s.fail(ctx, op, err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if n.Channel != s.channel {
			continue
		}
		if c, ok := parsePayload(n.Payload); ok {
			notify(c)
		}
	}
}

// parsePayload reads a notification payload, "seq:org", as the migration's
// key_versions_append_change writes it.
func parsePayload(payload string) (store.Change, bool) {
	seq, org, ok := strings.Cut(payload, ":")
	if !ok || org == "" {
		return store.Change{}, false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 1 {
		return store.Change{}, false
	}
	return store.Change{Seq: n, Org: org}, true
}
