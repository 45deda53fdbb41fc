package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/keyward/keyward/store"
)

// busyTimeout bounds how long a statement waits for a lock held by another
// process (a CLI command next to a running server) before failing with
// store.ErrUnavailable. The caller's context can end the wait sooner.
const busyTimeout = 5 * time.Second

// fileMode is the permission of a database file Open creates: it holds
// wrapped keys, so only the owner may read it.
const fileMode os.FileMode = 0o600

// Store is the embedded SQLite implementation of store.Store. It is safe for
// concurrent use, also by several processes sharing the database file.
type Store struct {
	// w is the writer pool: a single connection whose transactions start
	// with BEGIN IMMEDIATE. Writers in this process queue for it in
	// database/sql (in context order, cancellable) instead of spinning on
	// SQLite's lock.
	w *sql.DB
	// r is the reader pool: several query-only connections reading WAL
	// snapshots concurrently with the writer.
	r      *sql.DB
	closed atomic.Bool
	now    func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open opens the store at path, creating the file (mode 0600) and the schema
// if needed, and applies pending schema migrations. It refuses a database
// whose schema is newer than this binary (ErrSchemaTooNew) and a SQLite file
// of another application (ErrNotKeyward). Close the Store when done.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite store: open: empty database path")
	}
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open: %w", err)
	}
	abs, err := createFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open: %w", err)
	}
	s := &Store{now: time.Now}

	s.w, err = openPool(ctx, dsn(abs, writerParams), 1)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	if err := migrate(ctx, s.w, migs, s.now()); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	s.r, err = openPool(ctx, dsn(abs, readerParams), max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes both connection pools. Calls after Close fail with ErrClosed;
// closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := errors.Join(s.r.Close(), s.w.Close()); err != nil {
		return fmt.Errorf("sqlite store: close: %w", err)
	}
	return nil
}

// createFile creates the database file with mode 0600 unless it exists, so
// SQLite never creates it with the process umask (SQLite then gives the -wal
// and -shm files the same permissions). It returns the absolute path.
func createFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		// O_CREATE applies the umask; set the mode exactly.
		err = errors.Join(f.Chmod(fileMode), f.Close())
		if err != nil {
			return "", fmt.Errorf("create %s: %w", path, err)
		}
	case errors.Is(err, os.ErrExist):
		fi, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s is not a regular file", path)
		}
	default:
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	return abs, nil
}

// Connection parameters (modernc.org/sqlite DSN keys), in addition to the
// common ones in dsn. The writer takes the write lock at BEGIN
// (_txlock=immediate): a deferred transaction that reads first and writes
// later can fail with SQLITE_BUSY on the lock upgrade when another process
// wrote in between, and the busy timeout cannot help it; an immediate one
// waits for the lock up front and then cannot fail that way. Readers are
// query-only, a second guard on top of the code never writing through them.
const (
	writerParams = "_txlock=immediate&_journal_mode=WAL&_synchronous=FULL" +
		"&_foreign_keys=1&_pragma=secure_delete(1)"
	readerParams = "_foreign_keys=1&_query_only=1"
)

// dsn builds a file: URI for the absolute path abs, so that a path with '?',
// '#' or '%' in it reaches SQLite intact, with mode=rw (Open created the file;
// never create another one), the busy timeout, strict identifier quoting
// (_dqs=0) and params.
func dsn(abs, params string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/…
	}
	u := url.URL{Scheme: "file", Path: p}
	return fmt.Sprintf("file://%s?mode=rw&_busy_timeout=%d&_dqs=0&%s",
		u.EscapedPath(), busyTimeout.Milliseconds(), params)
}

// openPool opens a connection pool of n connections, all kept open: each new
// SQLite connection costs a file open and its PRAGMAs.
func openPool(ctx context.Context, dsn string, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// begin checks that the store is open and ctx is live before a call starts.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// write runs fn in one write transaction (BEGIN IMMEDIATE) and commits it.
// fn returns domain errors as they are and driver errors raw; write maps them.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) (err error) {
	if err := s.begin(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// millis is the stored form of a time: unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the read form of a stored time: UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
