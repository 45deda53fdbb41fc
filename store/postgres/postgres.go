package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/store"
)

// Store is the PostgreSQL implementation of store.Store and store.Notifier.
// It is safe for concurrent use, also by many processes sharing the
// database.
type Store struct {
	pool *pgxpool.Pool
	// listenConfig configures the connections Listen opens for itself,
	// outside the pool.
	listenConfig *pgx.ConnConfig
	schema       string
	channel      string
	closed       atomic.Bool
	// shutdown ends when Close is called, and with it every Listen.
	shutdown context.Context
	stop     context.CancelFunc
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Open connects to the database cfg names, applies pending schema migrations
// and returns the store. It fails with an error wrapping
// store.ErrUnavailable (retry later) if PostgreSQL cannot be reached, with
// ErrSchemaTooNew if a newer keyward migrated the schema, and with a plain
// error for a configuration mistake (such as a password in the URL). Close
// the Store when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, fmt.Errorf("postgres store: open: %w", err)
	}
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres store: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, set.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres store: open: %w", classify(ctx, err))
	}
	if err := migrate(ctx, pool, set.schema, migs); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: open: %w", classify(ctx, err))
	}
	listen := set.pool.ConnConfig.Copy()
	listen.RuntimeParams["application_name"] = set.appName + "/listen"
	shutdown, stop := context.WithCancel(context.Background())
	return &Store{
		pool:         pool,
		listenConfig: listen,
		schema:       set.schema,
		channel:      set.channel,
		shutdown:     shutdown,
		stop:         stop,
	}, nil
}

// Close closes the connection pool, waiting for calls in progress to
// return their connections, and ends every Listen. Calls after Close fail
// with ErrClosed; closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers, for readiness checks. It fails
// with an error wrapping store.ErrUnavailable when it does not.
func (s *Store) Ping(ctx context.Context) error {
	const op = "ping"
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// begin checks that the store is open and ctx is live before a call starts.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// write runs fn in one READ COMMITTED transaction and commits it; fn takes
// the row locks it needs. fn returns domain errors as they are and driver
// errors raw; write maps them. A transaction whose connection breaks is
// rolled back by the server.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// utc is the read form of a stored time.
func utc(t time.Time) time.Time { return t.UTC() }
