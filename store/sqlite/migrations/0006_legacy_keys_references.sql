-- 0006: imported legacy keys (Fernet), reference counts, and shredding.
--
-- legacy_keys holds keys of a format an application used before keyward,
-- wrapped by the KEK like DEKs (store.LegacyKeyStore). They never encrypt:
-- a key enters decrypt-only, may be retired (reversible) and destroyed
-- (final, wrapped key erased). Ids are 1, 2, 3… per organization.
--
-- key_references holds the reference counts of the last complete scan or
-- migration of each source (store.ReferenceStore).
--
-- org_shreds records shredded organizations (store.Shredder): every key of
-- such an organization is destroyed, the active version included, and none
-- can be added again.
--
-- The change feed gains a kind column: 'dek' for key_versions changes (all
-- rows so far), 'fernet' for legacy key changes, so that other processes
-- drop cached legacy keys as they drop DEKs.

ALTER TABLE key_changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'dek'
    CHECK (kind IN ('dek', 'fernet'));

CREATE TABLE org_shreds (
    org_id      TEXT    NOT NULL PRIMARY KEY REFERENCES orgs (id),
    shredded_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Shredding is final.
CREATE TRIGGER org_shreds_final
BEFORE DELETE ON org_shreds
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: shredding is final');
END;

CREATE TRIGGER org_shreds_immutable
BEFORE UPDATE ON org_shreds
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: shredding is final');
END;

-- A shredded organization gets no new key version.
CREATE TRIGGER key_versions_not_shredded
BEFORE INSERT ON key_versions
WHEN EXISTS (SELECT 1 FROM org_shreds WHERE org_id = NEW.org_id)
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: the organization is shredded');
END;

-- 0001's transitions, plus active → destroyed for a shredded organization
-- only (ShredOrg inserts into org_shreds first, in the same transaction).
DROP TRIGGER key_versions_transition;
CREATE TRIGGER key_versions_transition
BEFORE UPDATE OF state ON key_versions
WHEN NOT (NEW.state = OLD.state
       OR (OLD.state = 'active'       AND NEW.state = 'decrypt-only')
       OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
       OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed'))
       OR (OLD.state = 'active'       AND NEW.state = 'destroyed'
           AND EXISTS (SELECT 1 FROM org_shreds WHERE org_id = NEW.org_id)))
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition');
END;

-- 0002's state-change feed trigger, now also recording the destruction of
-- an active version (shredding).
DROP TRIGGER key_versions_change_state;
CREATE TRIGGER key_versions_change_state
AFTER UPDATE OF state ON key_versions
WHEN NEW.state <> OLD.state AND (OLD.state <> 'active' OR NEW.state = 'destroyed')
BEGIN
    INSERT INTO key_changes (org_id, version, state, changed_at)
    VALUES (NEW.org_id, NEW.version, NEW.state, NEW.updated_at);
END;

CREATE TABLE legacy_keys (
    org_id      TEXT    NOT NULL REFERENCES orgs (id),
    id          INTEGER NOT NULL CHECK (id BETWEEN 1 AND 4294967295),
    kind        TEXT    NOT NULL CHECK (kind IN ('fernet')),
    state       TEXT    NOT NULL CHECK (state IN ('decrypt-only', 'retired', 'destroyed')),
    fingerprint TEXT    NOT NULL CHECK (length(fingerprint) > 0),
    kek_id      TEXT    NOT NULL CHECK (length(kek_id) > 0),
    kek_version INTEGER NOT NULL CHECK (kek_version BETWEEN 0 AND 4294967295),
    wrapped     BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, id),
    CHECK ((state = 'destroyed') = (wrapped IS NULL)),
    CHECK (wrapped IS NULL OR length(wrapped) > 0)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX legacy_keys_fingerprint ON legacy_keys (org_id, fingerprint);

CREATE INDEX legacy_keys_kek
    ON legacy_keys (kek_id, kek_version) WHERE state <> 'destroyed';

-- Ids are 1, 2, 3… per organization; a key enters decrypt-only; a shredded
-- organization gets none.
CREATE TRIGGER legacy_keys_insert
BEFORE INSERT ON legacy_keys
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: the organization is shredded')
    WHERE EXISTS (SELECT 1 FROM org_shreds WHERE org_id = NEW.org_id);
    SELECT RAISE(ABORT, 'keyward: key version conflict')
    WHERE NEW.id <> (SELECT coalesce(max(id), 0) + 1 FROM legacy_keys WHERE org_id = NEW.org_id);
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: a legacy key enters decrypt-only')
    WHERE NEW.state <> 'decrypt-only';
END;

CREATE TRIGGER legacy_keys_transition
BEFORE UPDATE OF state ON legacy_keys
WHEN NOT (NEW.state = OLD.state
       OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
       OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed')))
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition');
END;

CREATE TRIGGER legacy_keys_identity
BEFORE UPDATE OF org_id, id, kind, fingerprint, created_at ON legacy_keys
WHEN NEW.org_id IS NOT OLD.org_id OR NEW.id IS NOT OLD.id OR NEW.kind IS NOT OLD.kind
  OR NEW.fingerprint IS NOT OLD.fingerprint OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'keyward: legacy key identity is immutable');
END;

CREATE TRIGGER legacy_keys_destroyed_final
BEFORE UPDATE OF kek_id, kek_version, wrapped ON legacy_keys
WHEN OLD.state = 'destroyed'
 AND (NEW.kek_id IS NOT OLD.kek_id
   OR NEW.kek_version IS NOT OLD.kek_version
   OR NEW.wrapped IS NOT OLD.wrapped)
BEGIN
    SELECT RAISE(ABORT, 'keyward: invalid key state transition: a destroyed legacy key is final');
END;

CREATE TRIGGER legacy_keys_no_delete
BEFORE DELETE ON legacy_keys
BEGIN
    SELECT RAISE(ABORT, 'keyward: legacy keys are never deleted');
END;

CREATE TRIGGER legacy_keys_change_insert
AFTER INSERT ON legacy_keys
BEGIN
    INSERT INTO key_changes (org_id, version, state, changed_at, kind)
    VALUES (NEW.org_id, NEW.id, NEW.state, NEW.created_at, 'fernet');
END;

CREATE TRIGGER legacy_keys_change_state
AFTER UPDATE OF state ON legacy_keys
WHEN NEW.state <> OLD.state
BEGIN
    INSERT INTO key_changes (org_id, version, state, changed_at, kind)
    VALUES (NEW.org_id, NEW.id, NEW.state, NEW.updated_at, 'fernet');
END;

CREATE TABLE key_references (
    source     TEXT    NOT NULL CHECK (length(source) > 0),
    org_id     TEXT    NOT NULL CHECK (length(org_id) > 0),
    kind       TEXT    NOT NULL CHECK (kind IN ('dek', 'fernet')),
    version    INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    count      INTEGER NOT NULL CHECK (count > 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, org_id, kind, version)
) STRICT, WITHOUT ROWID;

CREATE INDEX key_references_org ON key_references (org_id, source, kind, version);
