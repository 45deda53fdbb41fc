-- 0004: the secret store (store.SecretStore).
--
-- One row per secret of an organization: its ciphertext (a keyward field in
-- binary form, sealed with the secret's name in its AAD by package
-- secretstore), never a plaintext. kind and hint are the writer's metadata;
-- hint is empty unless the writer asked for one. key_version repeats the DEK
-- version inside the ciphertext so that SecretVersionCounts is a query on an
-- index, not a parse of every row. revision starts at 1 and grows by one on
-- every write (compare-and-swap for writers and re-encryption).
--
-- Names compare bytewise (COLLATE "C"), as in the SQLite store: the primary
-- key serves lookups and keyset listing; secrets_key_version serves
-- SecretVersionCounts (an index-only scan once the table is vacuumed).
-- Secrets are not part of the key change feed: writing one is no key change.

CREATE TABLE secrets (
    org_id      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    kind        text             NOT NULL,
    hint        text             NOT NULL DEFAULT '',
    ciphertext  bytea            NOT NULL,
    key_version bigint           NOT NULL,
    revision    bigint           NOT NULL DEFAULT 1,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    updated_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT secrets_pkey PRIMARY KEY (org_id, name),
    CONSTRAINT secrets_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id),
    CONSTRAINT secrets_name_check CHECK (name <> ''),
    CONSTRAINT secrets_kind_check CHECK (kind <> ''),
    CONSTRAINT secrets_ciphertext_check CHECK (length(ciphertext) > 0),
    CONSTRAINT secrets_key_version_check CHECK (key_version BETWEEN 1 AND 4294967295),
    CONSTRAINT secrets_revision_check CHECK (revision >= 1)
);

CREATE INDEX secrets_key_version ON secrets (org_id, key_version);

-- A secret's identity and creation time never change; a write is a new
-- revision, never an old one.
CREATE FUNCTION secrets_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.name IS DISTINCT FROM OLD.name
       OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.revision <= OLD.revision THEN
        RAISE EXCEPTION 'keyward: secret identity is immutable and revisions only grow'
            USING ERRCODE = 'KW003';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER secrets_check_update
    BEFORE UPDATE ON secrets
    FOR EACH ROW EXECUTE FUNCTION secrets_check_update();
