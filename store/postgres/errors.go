package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/store"
)

// Errors of this implementation, beyond the sentinels of package store.
var (
	// ErrClosed reports a call on a Store after Close.
	ErrClosed = errors.New("postgres store: closed")
	// ErrSchemaTooNew reports a database migrated by a newer keyward, whose
	// schema this binary does not know. Upgrade keyward to use it.
	ErrSchemaTooNew = errors.New("postgres store: database schema is newer than this binary")
)

// isDomain reports whether err already carries the outcome a caller decides
// on; such an error is passed through as it is.
func isDomain(err error) bool {
	for _, target := range []error{
		store.ErrNotFound, store.ErrOrgExists, store.ErrVersionConflict,
		store.ErrInvalidTransition, store.ErrInvalidArgument, store.ErrStale,
		store.ErrUnavailable, store.ErrKeyExists, ErrClosed, ErrSchemaTooNew,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// fail turns err from operation op into the error the caller sees:
// "postgres store: op: …", wrapping a store sentinel, ErrClosed or the
// context's error where one applies.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	switch {
	case isDomain(err):
	case s.closed.Load():
		err = fmt.Errorf("%w (%w)", ErrClosed, err)
	default:
		err = classify(ctx, err)
	}
	return fmt.Errorf("postgres store: %s: %w", op, err)
}

// classify is the one place that maps driver and server errors to the
// sentinels of package store. The callers detect the expected outcomes (a
// taken org id, a version conflict) themselves where they can; constraint
// and trigger violations are the second line and are mapped here too.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		// The call was interrupted or never started; whatever the driver
		// said, the cause is the context.
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if retryableState(pgErr.Code) {
			return unavailable(err)
		}
		if sentinel := sqlstateSentinel(pgErr); sentinel != nil {
			return fmt.Errorf("%w (%w)", sentinel, err)
		}
		return err
	}
	if unreachable(err) {
		return unavailable(err)
	}
	return err
}

// unavailable wraps store.ErrUnavailable around err.
func unavailable(err error) error {
	return fmt.Errorf("%w (retryable): %w", store.ErrUnavailable, err)
}

// sqlstateSentinel returns the store sentinel for a server error, or nil.
func sqlstateSentinel(e *pgconn.PgError) error {
	switch e.Code {
	case "KW001": // keyward trigger: version is not highest + 1
		return store.ErrVersionConflict
	case "KW002": // keyward trigger: lifecycle does not allow it
		return store.ErrInvalidTransition
	case "KW003": // keyward trigger: any other invariant
		return store.ErrInvalidArgument
	case "23505": // unique_violation
		switch e.ConstraintName {
		case "orgs_pkey":
			return store.ErrOrgExists
		case "legacy_keys_fingerprint":
			return store.ErrKeyExists
		case "key_versions_pkey", "key_versions_one_active", "legacy_keys_pkey":
			// Another writer added the version (or the active one) first.
			return store.ErrVersionConflict
		}
		return store.ErrInvalidArgument
	case "23503": // foreign_key_violation: a key of an unknown org
		return store.ErrNotFound
	case "23514", // check_violation
		"23502", // not_null_violation
		"22001", // string_data_right_truncation
		"22003", // numeric_value_out_of_range
		"22021", // character_not_in_repertoire
		"22023", // invalid_parameter_value (e.g. a notification payload too long)
		"22P02", // invalid_text_representation
		"22P05", // untranslatable_character
		"54000": // program_limit_exceeded (e.g. an index row too large)
		return store.ErrInvalidArgument
	}
	return nil
}

// retryableState reports whether a SQLSTATE says the database cannot serve
// the call now but may later: connection exceptions, insufficient
// resources, shutdowns and restarts, a standby that does not take writes
// (after a failover), cancellation by the server, and concurrency failures.
func retryableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection_exception
		strings.HasPrefix(code, "53"), // insufficient_resources (too many connections, disk full)
		strings.HasPrefix(code, "58"): // system_error (I/O error)
		return true
	}
	switch code {
	case "57P01", // admin_shutdown (also pg_terminate_backend)
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now (starting up, shutting down)
		"57P05", // idle_session_timeout
		"57014", // query_canceled (statement_timeout, pg_cancel_backend)
		"25006", // read_only_sql_transaction (connected to a standby)
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03": // lock_not_available (lock_timeout)
		return true
	}
	return false
}

// unreachable reports whether err, which carries no server error, says the
// database could not be reached or the connection broke: dial failures,
// timeouts, resets, EOF, and whatever pgconn itself marks safe to retry (an
// error before anything was sent). A certificate the client refused is a
// configuration error, not an outage.
func unreachable(err error) bool {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// errf formats a domain error: the sentinel, then the details.
func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
