-- 0001: organizations and the wrapped versions of their data keys.
--
-- Times are unix milliseconds (UTC). The invariants of package store are
-- enforced here as far as SQLite can express them; the Go code checks them
-- again inside each write transaction and reports the precise sentinel error.
-- The trigger messages start with "keyward:" so the store can map them.

CREATE TABLE orgs (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) > 0),
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE key_versions (
    org_id      TEXT    NOT NULL REFERENCES orgs (id),
    version     INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    state       TEXT    NOT NULL
                CHECK (state IN ('active', 'decrypt-only', 'retired', 'destroyed')),
    kek_id      TEXT    NOT NULL CHECK (length(kek_id) > 0),
    kek_version INTEGER NOT NULL CHECK (kek_version BETWEEN 0 AND 4294967295),
    wrapped     BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, version),
    -- A destroyed version has no wrapped key; every other version has one.
    CHECK ((state = 'destroyed') = (wrapped IS NULL)),
    CHECK (wrapped IS NULL OR length(wrapped) > 0)
) STRICT, WITHOUT ROWID;

-- At most one active version per organization (exactly one is kept by the
-- transactions: CreateOrg inserts it, AddKey swaps it).
CREATE UNIQUE INDEX key_versions_one_active
    ON key_versions (org_id) WHERE state = 'active';

-- Versions are 1, 2, 3… per organization: no gap, no reuse.
CREATE TRIGGER key_versions_next
BEFORE INSERT ON key_versions
WHEN NEW.version <> (SELECT coalesce(max(version), 0) + 1
                     FROM key_versions WHERE org_id = NEW.org_id)
BEGIN
    SELECT RAISE(ABORT, 'keyward: key version conflict');
END;

-- A new version enters as the active one.
CREATE TRIGGER key_versions_insert_active
BEFORE INSERT ON key_versions
WHEN NEW.state <> 'active'
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition');
END;

-- States move forward only; retired may return to decrypt-only; destroyed is
-- final (the CHECK above keeps its wrapped key erased).
CREATE TRIGGER key_versions_transition
BEFORE UPDATE OF state ON key_versions
WHEN NOT (NEW.state = OLD.state
       OR (OLD.state = 'active'       AND NEW.state = 'decrypt-only')
       OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
       OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed')))
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition');
END;

-- A version's identity never changes.
CREATE TRIGGER key_versions_identity
BEFORE UPDATE OF org_id, version, created_at ON key_versions
WHEN NEW.org_id IS NOT OLD.org_id
  OR NEW.version IS NOT OLD.version
  OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'keyward: key version identity is immutable');
END;

-- Versions are never deleted, so a version number is never reused.
CREATE TRIGGER key_versions_no_delete
BEFORE DELETE ON key_versions
BEGIN
    SELECT RAISE(ABORT, 'keyward: key versions are never deleted');
END;
