-- 0002: per-version usage counters and the change feed.
--
-- usage counts the encryptions reserved under a key version
-- (store.Store.ReserveUsage). It only grows, and only while the version may
-- still be used by a process that holds it: active or decrypt-only. Existing
-- versions start at 0. SQLite integers are signed, so the count tops out at
-- 2^63 - 1; the store refuses a reservation beyond that.
--
-- key_changes is the change feed (store.Store.Changes): one row per key
-- change, appended by the triggers below in the transaction of the change,
-- so no writer can change keys without appending one. AUTOINCREMENT never
-- reuses a seq, and SQLite has one writer at a time, so seq order is commit
-- order. Changes made before this migration are not replayed: a reader starts
-- from LastChange.

ALTER TABLE key_versions ADD COLUMN usage INTEGER NOT NULL DEFAULT 0 CHECK (usage >= 0);

-- The count of reservations never goes back.
CREATE TRIGGER key_versions_usage_monotonic
BEFORE UPDATE OF usage ON key_versions
WHEN NEW.usage < OLD.usage
BEGIN
    SELECT RAISE(ABORT, 'keyward: key usage never decreases');
END;

-- Reservations are for encrypting: a retired or destroyed version takes none.
CREATE TRIGGER key_versions_usage_state
BEFORE UPDATE OF usage ON key_versions
WHEN NEW.usage <> OLD.usage AND OLD.state NOT IN ('active', 'decrypt-only')
BEGIN
    SELECT RAISE(ABORT, 'keyward: no usage under a retired or destroyed key version');
END;

CREATE TABLE key_changes (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    org_id     TEXT    NOT NULL REFERENCES orgs (id),
    -- The version that changed and its new state, for diagnosis: CreateOrg
    -- and AddKey record the new active version, SetKeyState and DestroyKey
    -- the version they moved.
    version    INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    state      TEXT    NOT NULL
               CHECK (state IN ('active', 'decrypt-only', 'retired', 'destroyed')),
    changed_at INTEGER NOT NULL
) STRICT;

-- A new version (CreateOrg's version 1, AddKey's next one) is one change.
-- AddKey's demotion of the previous active version is part of that change.
CREATE TRIGGER key_versions_change_insert
AFTER INSERT ON key_versions
BEGIN
    INSERT INTO key_changes (org_id, version, state, changed_at)
    VALUES (NEW.org_id, NEW.version, NEW.state, NEW.created_at);
END;

-- A state change (SetKeyState, DestroyKey) is one change. Leaving the active
-- state only happens inside AddKey, which its insert already recorded; an
-- update that keeps the state records nothing.
CREATE TRIGGER key_versions_change_state
AFTER UPDATE OF state ON key_versions
WHEN NEW.state <> OLD.state AND OLD.state <> 'active'
BEGIN
    INSERT INTO key_changes (org_id, version, state, changed_at)
    VALUES (NEW.org_id, NEW.version, NEW.state, NEW.updated_at);
END;

-- The feed is append-only: a reader that saw seq n must be able to trust
-- that what it saw stays as it was.
CREATE TRIGGER key_changes_no_update
BEFORE UPDATE ON key_changes
BEGIN
    SELECT RAISE(ABORT, 'keyward: the change feed is append-only');
END;

CREATE TRIGGER key_changes_no_delete
BEFORE DELETE ON key_changes
BEGIN
    SELECT RAISE(ABORT, 'keyward: the change feed is append-only');
END;
