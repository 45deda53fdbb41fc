// Package postgres is keyward's shared store: store.Store and store.Notifier
// on PostgreSQL, through pgx v5 and its pool. Any number of stateless keyward
// processes use one database at once; every invariant holds across them.
// It passes the conformance suite in store/storetest, like the embedded
// SQLite store.
//
// # Connecting
//
// Config.URL is a postgres:// URL without a password; Open refuses one that
// carries a secret (in the user info, or as a password, passfile or
// sslpassword parameter) and takes the password only from Config.Password,
// which the caller loads from a password_file, a file descriptor or
// $CREDENTIALS_DIRECTORY. PGPASSWORD and ~/.pgpass are ignored. Neither the
// password nor a URL with credentials ever appears in an error, and
// Config's String, GoString and LogValue redact it.
//
// Each store works in one schema (Config.Schema, default public), created
// if missing: the pool's connections set search_path to it alone and
// application_name to "keyward/<schema>" (Listen's own connection:
// "keyward/<schema>/listen"), so operators can find them in
// pg_stat_activity.
//
// # Schema
//
// Created by the numbered SQL files embedded from migrations/:
//
//	orgs            (id text COLLATE "C" PRIMARY KEY, created_at)
//	key_versions    (org_id → orgs, version 1..2^32-1, state, kek_id,
//	                 kek_version, wrapped bytea NULL iff destroyed, usage
//	                 bigint, created_at, updated_at; PRIMARY KEY (org_id, version))
//	change_counter  (one row: the last seq handed out)
//	changes         (seq PRIMARY KEY, org_id, version, state, changed_at)
//
// Ids compare bytewise (COLLATE "C"), as in SQLite. Times are timestamptz
// from the database's clock (one clock for all processes), read back in
// UTC. The store's invariants are enforced twice: each write runs in a
// transaction that checks them and returns the precise sentinel error, and
// the schema enforces them again, so no bug and no hand-written SQL can
// break them: CHECK constraints; a partial unique index allowing one active
// version per organization; triggers requiring new versions to be active and
// numbered highest + 1, allowing only the lifecycle's state transitions,
// keeping usage from decreasing or growing under a retired or destroyed
// version, keeping a destroyed version's KEK and (erased) wrapped key as
// they are, and forbidding deletes; a deferred constraint trigger refusing
// to commit an organization without its version 1. Trigger errors carry
// keyward's own SQLSTATEs (KW001..KW003), mapped to the sentinels.
//
// # Transactions and locking
//
// All transactions run at READ COMMITTED and take the row locks they need.
// CreateOrg is a single statement, so one implicit transaction: a connection
// dying at any point leaves the organization with its version 1, or
// nothing. AddKey locks the organization's row (FOR NO KEY UPDATE, which
// serialises rotations but not foreign key checks), checks that the new
// version is the highest plus one, demotes the active version and inserts
// the new one. SetKeyState and DestroyKey lock the version's row (FOR
// UPDATE), check the transition and update it. ReserveUsage is one UPDATE …
// RETURNING whose row lock serialises concurrent reservations; only a
// refused reservation takes a second, locked look to say why.
//
// RewrapKey (KEK rotation) is one compare-and-swap UPDATE of the version's
// kek_id, kek_version, wrapped and updated_at, conditioned on the expected
// KEK and a state other than destroyed; at READ COMMITTED an UPDATE that
// waited for a concurrent writer re-checks that condition on the committed
// row, so of racing rewraps from the same KEK exactly one wins and the
// others get store.ErrStale. It locks that row only: it changes no key
// column (no foreign key check on the organization) and no state (no
// trigger takes the change counter), so it cannot deadlock with AddKey,
// SetKeyState or DestroyKey, and it appends nothing to the feed. When it
// matches no row, a second read tells store.ErrNotFound from
// store.ErrStale. KeysToRewrap walks the primary key from its (org,
// version) cursor; KEKCounts groups by KEK with the ids compared bytewise
// (COLLATE "C"), served by a partial index over the versions not destroyed
// (migration 0002).
//
// # Change feed and notifications
//
// Triggers on key_versions append a change for every inserted version and
// every state change other than AddKey's demotion, in the transaction of the
// change, so every key change is in the feed exactly once, whichever code
// made it, and a no-op or refused call appends nothing. The seq comes from
// UPDATE change_counter SET seq = seq + 1: the row lock is held until
// commit, so writers of changes are serialised and seq order is commit
// order. (A sequence would not do: a transaction may take seq 5, another seq
// 6 and commit first, and a poller that saw 6 would never see 5.) The
// counter is taken last, and after it a transaction only inserts into
// changes (no foreign key check) and commits, so writers cannot deadlock.
// Key changes are rare; their serialisation costs nothing that matters.
//
// The same trigger calls pg_notify on the schema's channel,
// "keyward_changes:<schema>" (or "keyward_changes#<hash>" when the name
// would be longer than an identifier), with the payload "<seq>:<org>";
// PostgreSQL delivers it at commit and drops it on rollback. Listen opens a
// connection of its own outside the pool (a listening connection is held
// indefinitely and must not starve the pool), LISTENs, calls ready and then
// notify for each change; it returns when its context ends, when the store
// is closed, or when the connection fails, and always closes the
// connection. Callers re-invoke it and poll Changes after ready to cover
// the gap.
//
// # Migrations
//
// Open applies pending migrations in one transaction holding
// pg_advisory_xact_lock on a key derived from the schema name, so processes
// starting together apply each step once and the others wait, then find
// nothing to do. DDL is transactional in PostgreSQL: a failed or interrupted
// migration leaves the schema as it was. Applied steps are recorded in
// schema_migrations (version, name, applied_at); a schema migrated by a
// newer keyward is refused with ErrSchemaTooNew. The runner is this
// package's own hundred lines rather than goose or golang-migrate: keyward
// needs only forward, embedded, transactional steps, the same layout as the
// SQLite store, and a lock per schema, and a library would add a dependency
// (and its own table and locking conventions) for none of that.
//
// # Errors
//
// Errors start with "postgres store:" and wrap the sentinels of package
// store, ErrClosed, ErrSchemaTooNew or the context's error (which stays
// recognisable with errors.Is). One function, classify, maps server and
// driver errors: unique, foreign key, check and trigger violations to the
// domain sentinels; dial failures, timeouts, broken connections, shutdowns
// and restarts (57P01-57P03, class 08), resource exhaustion (class 53), a
// standby refusing writes after a failover (25006), deadlocks and
// serialisation failures to store.ErrUnavailable, described as retryable.
// A write that fails with store.ErrUnavailable may have committed before the
// connection broke: retrying it is safe (CreateOrg then reports
// ErrOrgExists, AddKey ErrVersionConflict, and a repeated ReserveUsage only
// over-counts, which the nonce budget tolerates).
//
// # Limits
//
// PostgreSQL text holds neither NUL bytes nor invalid UTF-8, so unlike the
// SQLite store this one refuses such organization ids and KEK ids
// (store.ErrInvalidArgument; reads of such an id report store.ErrNotFound),
// and ids longer than 1024 bytes, which keeps them within index and
// notification payload limits (keyring allows 64). Usage counts stop at
// 2^63-1. DestroyKey sets the wrapped key to NULL; the old row version stays
// in the table's pages until VACUUM and page reuse overwrite it, and in WAL,
// replicas and backups, all beyond the store's reach.
//
// The package keeps no global state and never logs.
package postgres
