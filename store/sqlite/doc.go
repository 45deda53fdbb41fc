// Package sqlite is keyward's embedded store: store.Store on a single SQLite
// file, through modernc.org/sqlite (pure Go, no cgo). It is the zero-setup
// default behind `keyward init`; deployments with several servers use the
// PostgreSQL store instead. Both pass the conformance suite in store/storetest.
//
// # Schema
//
// Three STRICT tables, created by the numbered SQL files embedded from
// migrations/:
//
//	orgs          (id PRIMARY KEY, created_at)
//	key_versions  (org_id → orgs, version, state, kek_id, kek_version,
//	               wrapped, created_at, updated_at, usage;
//	               PRIMARY KEY (org_id, version))
//	key_changes   (seq INTEGER PRIMARY KEY AUTOINCREMENT, org_id → orgs,
//	               version, state, changed_at)
//
// Times are unix milliseconds, read back as UTC. The store's invariants are
// enforced twice. Each write runs in one transaction that checks them and
// returns the precise sentinel error (store.ErrVersionConflict,
// store.ErrInvalidTransition…). The schema enforces them again, so no bug and
// no hand-written SQL can break them: CHECK constraints on states, versions
// and "destroyed ⇔ no wrapped key"; a partial unique index allowing one
// active version per organization; triggers requiring new versions to be the
// next number and active, allowing only the lifecycle's state transitions,
// and forbidding deletes (a version number is never reused); triggers
// keeping usage from decreasing or growing under a retired or destroyed
// version; a trigger keeping a destroyed version's KEK and (erased) wrapped
// key as they are. Constraint violations are mapped to the store sentinels
// as well.
//
// # KEK rotation
//
// KeysToRewrap walks the primary key from its (org, version) cursor, so a
// whole rotation reads each row once. RewrapKey is one write transaction
// around a single compare-and-swap UPDATE of kek_id, kek_version, wrapped
// and updated_at, conditioned on the expected KEK and a state other than
// destroyed; when it matches no row, a read in the same transaction tells
// store.ErrNotFound from store.ErrStale. It neither changes the state nor
// appends to the change feed (the feed's triggers fire on state changes
// only): the data key is the same, and caches stay valid. KEKCounts scans a
// partial index on (kek_id, kek_version) over the versions not destroyed
// (migration 0003).
//
// # Usage and the change feed
//
// ReserveUsage is one write transaction, a single UPDATE … RETURNING in the
// common case, so concurrent reservations from any number of processes never
// lose an update. Counts are signed 64-bit integers in SQLite: a total past
// 2^63-1 is refused, never wrapped around.
//
// key_changes is written by triggers only: inserting a version (CreateOrg,
// AddKey) and changing a version's state other than AddKey's demotion of the
// active one (SetKeyState, DestroyKey) append one row in the same
// transaction, so every key change, by any code path, is in the feed exactly
// once, and a no-op or refused call appends nothing. With one writer at a
// time, seq order is commit order. The feed is append-only.
//
// # Migrations
//
// Open applies the pending migrations in one write transaction and records
// each in schema_migrations (version, name, applied_at); on an up-to-date
// database it changes nothing. A database whose recorded version is higher
// than the newest migration this binary embeds was written by a newer
// keyward and is refused with ErrSchemaTooNew rather than used with a schema
// the code does not know. The file is marked with a SQLite application id;
// a SQLite file of another application is refused with ErrNotKeyward.
//
// # Connections and locking
//
// SQLite allows one writer at a time. The Store keeps two pools: a writer
// pool of exactly one connection, and a reader pool of query-only
// connections. In WAL mode readers see a consistent snapshot and never block
// the writer, nor it them. Writers of one process queue for the single writer
// connection inside database/sql, where waiting respects the context; writers
// of different processes (a CLI command next to a server) meet at SQLite's
// lock, waiting up to a busy timeout of 5s. Write transactions start with
// BEGIN IMMEDIATE, taking the write lock before their first read, so a
// read-then-write transaction never fails on the upgrade from read to write
// lock (which the busy timeout cannot resolve). A write that still cannot
// get the lock fails with store.ErrUnavailable and may be retried.
//
// # Durability
//
// synchronous=FULL: every commit is fsynced before it returns. With the
// cheaper NORMAL, WAL mode stays consistent but may lose the last commits on
// power loss. For keyward such a loss is not benign: a new key version, once
// committed, is used at once to encrypt application data, and if its wrapped
// key then vanished, that data could never be decrypted. Writes are rare
// (rotations, org creation), so the fsync costs little.
//
// # Files and erasure
//
// The database holds wrapped keys, so Open creates the file with mode 0600
// before SQLite opens it; SQLite gives the -wal and -shm files the same mode.
// An existing file keeps its mode. secure_delete is on, so a destroyed
// version's wrapped key is overwritten in the database file, and DestroyKey
// then truncates the write-ahead log on a best-effort basis. Copies in
// earlier backups are beyond the store's reach.
//
// The package keeps no global state and never logs; errors are lowercase,
// start with "sqlite store:", and wrap the sentinels of package store (or
// ErrClosed, ErrSchemaTooNew, ErrNotKeyward, or the context's error).
package sqlite
