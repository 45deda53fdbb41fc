package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward/store"
)

// Errors of this implementation, beyond the sentinels of package store.
var (
	// ErrClosed reports a call on a Store after Close.
	ErrClosed = errors.New("sqlite store: closed")
	// ErrSchemaTooNew reports a database written by a newer keyward, whose
	// schema this binary does not know. Upgrade keyward to open it.
	ErrSchemaTooNew = errors.New("sqlite store: database schema is newer than this binary")
	// ErrNotKeyward reports a SQLite database that belongs to another
	// application; Open refuses to add keyward's tables to it.
	ErrNotKeyward = errors.New("sqlite store: not a keyward database")
)

// domainErrors are the outcomes a caller decides on; an error that already
// wraps one of them is passed through as it is.
func isDomain(err error) bool {
	for _, target := range []error{
		store.ErrNotFound, store.ErrOrgExists, store.ErrVersionConflict,
		store.ErrInvalidTransition, store.ErrInvalidArgument, store.ErrStale,
		store.ErrUnavailable, store.ErrKeyExists, ErrClosed,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// fail turns err from operation op into the error the caller sees:
// "sqlite store: op: …", wrapping a store sentinel, ErrClosed or the
// context's error where one applies.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	switch {
	case isDomain(err):
	case s.closed.Load():
		err = fmt.Errorf("%w (%w)", ErrClosed, err)
	case ctx.Err() != nil:
		// The call was interrupted or never started; whatever the driver
		// said, the cause is the context.
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	default:
		err = classify(err)
	}
	return fmt.Errorf("sqlite store: %s: %w", op, err)
}

// classify wraps a store sentinel around a SQLite error that maps to one. The
// callers detect the expected outcomes (a taken org id, a version conflict)
// themselves; the schema's constraints and triggers are a second line, and
// this mapping keeps their violations meaningful too.
func classify(err error) error {
	var se *sqlitedrv.Error
	if !errors.As(err, &se) {
		return err
	}
	code := se.Code()
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		msg := se.Error()
		switch {
		case strings.Contains(msg, "keyward: key version conflict"):
			return fmt.Errorf("%w (%w)", store.ErrVersionConflict, err)
		case strings.Contains(msg, "keyward: invalid key state transition"),
			strings.Contains(msg, "keyward: no usage under a retired or destroyed key version"):
			return fmt.Errorf("%w (%w)", store.ErrInvalidTransition, err)
		}
		return fmt.Errorf("%w (%w)", store.ErrInvalidArgument, err)
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL,
		sqlite3.SQLITE_CONSTRAINT_DATATYPE:
		return fmt.Errorf("%w (%w)", store.ErrInvalidArgument, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w (%w)", store.ErrNotFound, err)
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		// The keys: orgs(id), key_versions(org_id, version) and the one
		// active version per org, where the last two mean another writer
		// added a version first; and secrets(org_id, name), which PutSecret
		// never violates (it replaces), so only a raw insert can.
		switch msg := se.Error(); {
		case strings.Contains(msg, "orgs.id"):
			return fmt.Errorf("%w (%w)", store.ErrOrgExists, err)
		case strings.Contains(msg, "secrets."):
			return fmt.Errorf("%w (%w)", store.ErrInvalidArgument, err)
		}
		if strings.Contains(se.Error(), "legacy_keys.fingerprint") {
			return fmt.Errorf("%w (%w)", store.ErrKeyExists, err)
		}
		return fmt.Errorf("%w (%w)", store.ErrVersionConflict, err)
	}
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
		return fmt.Errorf("%w (%w)", store.ErrUnavailable, err)
	}
	return err
}

// errf formats a domain error: the sentinel, then the details.
func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
