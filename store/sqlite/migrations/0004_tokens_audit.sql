-- 0004: access tokens (store.TokenStore) and the audit log (store.AuditStore).
--
-- tokens keeps the SHA-256 of each token's secret bytes, never the token;
-- the public id is derived from the token by package policy and reveals
-- nothing of it. grants is a JSON array of {org, capability, pattern},
-- opaque to the store. Times are unix milliseconds (UTC); NULL expires_at
-- means never, NULL revoked_at means live. Revocation is final.
CREATE TABLE tokens (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    grants      TEXT    NOT NULL CHECK (json_valid(grants) AND json_type(grants) = 'array'),
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
) STRICT;

CREATE TRIGGER tokens_revocation_final
BEFORE UPDATE ON tokens
WHEN OLD.revoked_at IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.hash IS NOT OLD.hash OR NEW.grants IS NOT OLD.grants
  OR NEW.created_at IS NOT OLD.created_at OR NEW.expires_at IS NOT OLD.expires_at
BEGIN
    SELECT RAISE(ABORT, 'keyward: a token changes only by its revocation, which is final');
END;

-- The audit key: 32 random bytes wrapped by the KEK (one row).
CREATE TABLE audit_key (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    kek_id      TEXT    NOT NULL CHECK (length(kek_id) > 0),
    kek_version INTEGER NOT NULL CHECK (kek_version BETWEEN 0 AND 4294967295),
    wrapped     BLOB    NOT NULL CHECK (length(wrapped) > 0),
    created_at  INTEGER NOT NULL
) STRICT;

-- The audit log: one row per event, hash-chained by mac (package audit).
-- The triggers below make it append-only for keyward and for careless
-- hands; the keyed chain is what proves it untouched (keyward audit verify),
-- since anyone with write access to the file can drop a trigger.
CREATE TABLE audit_events (
    seq         INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at          INTEGER NOT NULL,
    request_id  TEXT    NOT NULL,
    token_id    TEXT    NOT NULL,
    org_id      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    context     TEXT    NOT NULL,
    key_version INTEGER NOT NULL CHECK (key_version BETWEEN 0 AND 4294967295),
    outcome     TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    value_mac   TEXT    NOT NULL,
    mac         BLOB    NOT NULL CHECK (length(mac) = 32)
) STRICT;

CREATE TRIGGER audit_events_no_update
BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'keyward: audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete
BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'keyward: audit events are append-only');
END;

-- The chain head: the last event's seq and mac, updated in the transaction
-- of every append. One row, present from the start (seq 0: empty log).
CREATE TABLE audit_head (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    mac BLOB    CHECK (mac IS NULL OR length(mac) = 32),
    CHECK ((seq = 0) = (mac IS NULL))
) STRICT;

INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, NULL);

CREATE TRIGGER audit_head_forward
BEFORE UPDATE ON audit_head
WHEN NEW.seq < OLD.seq
BEGIN
    SELECT RAISE(ABORT, 'keyward: the audit chain head only moves forward');
END;

CREATE TRIGGER audit_head_no_delete
BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'keyward: the audit chain head is never deleted');
END;
