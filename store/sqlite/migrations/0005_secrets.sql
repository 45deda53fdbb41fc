-- 0005: the secret store (store.SecretStore).
--
-- One row per secret of an organization: its ciphertext (a keyward field in
-- binary form, sealed with the secret's name in its AAD by package
-- secretstore), never a plaintext. kind and hint are the writer's metadata;
-- hint is empty unless the writer asked for one. key_version repeats the DEK
-- version inside the ciphertext so that SecretVersionCounts is a query on an
-- index, not a parse of every row. revision starts at 1 and grows by one on
-- every write (compare-and-swap for writers and re-encryption).
--
-- A rowid table, not WITHOUT ROWID: rows carry ciphertexts up to tens of
-- kilobytes, which a WITHOUT ROWID b-tree stores poorly. The primary key's
-- index serves lookups and keyset listing in bytewise name order (BINARY
-- collation); secrets_key_version serves SecretVersionCounts as a covering
-- scan. The writer connections run with secure_delete, so a replaced or
-- deleted ciphertext is zeroed in the file, not left in free pages.

CREATE TABLE secrets (
    org_id      TEXT    NOT NULL REFERENCES orgs (id),
    name        TEXT    NOT NULL CHECK (length(name) > 0),
    kind        TEXT    NOT NULL CHECK (length(kind) > 0),
    hint        TEXT    NOT NULL DEFAULT '',
    ciphertext  BLOB    NOT NULL CHECK (length(ciphertext) > 0),
    key_version INTEGER NOT NULL CHECK (key_version BETWEEN 1 AND 4294967295),
    revision    INTEGER NOT NULL CHECK (revision >= 1),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
) STRICT;

CREATE INDEX secrets_key_version ON secrets (org_id, key_version);

-- A secret's identity and creation time never change; a write is a new
-- revision, never an old one.
CREATE TRIGGER secrets_identity
BEFORE UPDATE ON secrets
WHEN NEW.org_id IS NOT OLD.org_id
  OR NEW.name IS NOT OLD.name
  OR NEW.created_at IS NOT OLD.created_at
  OR NEW.revision <= OLD.revision
BEGIN
    SELECT RAISE(ABORT, 'keyward: secret identity is immutable and revisions only grow');
END;
