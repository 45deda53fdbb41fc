-- 0005: imported legacy keys (Fernet), reference counts, and shredding.
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
-- The change feed gains a kind column: 'dek' for key_versions changes,
-- 'fernet' for legacy key changes. Appending a change (counter, insert,
-- notify) moves into one function, keyward_append_change, that both tables'
-- triggers call; the lock order of 0001 holds (the counter is taken last).

ALTER TABLE changes ADD COLUMN kind text NOT NULL DEFAULT 'dek';
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('dek', 'fernet'));

CREATE FUNCTION keyward_append_change(sch text, org text, ver bigint, st text, knd text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    next    bigint;
    channel text := 'keyward_changes:' || sch;
BEGIN
    EXECUTE format('UPDATE %I.change_counter SET seq = seq + 1 RETURNING seq', sch) INTO next;
    IF next IS NULL THEN
        RAISE EXCEPTION 'keyward: %.change_counter has no row', sch USING ERRCODE = 'KW003';
    END IF;
    EXECUTE format('INSERT INTO %I.changes (seq, org_id, version, state, kind) VALUES ($1, $2, $3, $4, $5)', sch)
        USING next, org, ver, st, knd;
    IF octet_length(channel) > 63 THEN
        channel := 'keyward_changes#' || left(encode(sha256(convert_to(sch, 'UTF8')), 'hex'), 32);
    END IF;
    PERFORM pg_notify(channel, next || ':' || org);
END
$$;

-- 0001's feed trigger function, now also recording the destruction of an
-- active version (shredding).
CREATE OR REPLACE FUNCTION key_versions_append_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.state = OLD.state
                             OR (OLD.state = 'active' AND NEW.state <> 'destroyed')) THEN
        RETURN NULL;
    END IF;
    PERFORM keyward_append_change(TG_TABLE_SCHEMA, NEW.org_id, NEW.version, NEW.state, 'dek');
    RETURN NULL;
END
$$;

CREATE TABLE org_shreds (
    org_id      text COLLATE "C" NOT NULL,
    shredded_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT org_shreds_pkey PRIMARY KEY (org_id),
    CONSTRAINT org_shreds_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id)
);

-- Shredding is final.
CREATE TRIGGER org_shreds_final
    BEFORE UPDATE OR DELETE ON org_shreds
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();

-- 0001's insert check, plus: a shredded organization gets no new version.
CREATE OR REPLACE FUNCTION key_versions_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    high     bigint;
    shredded boolean;
BEGIN
    IF NEW.state <> 'active' THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: a new key version must be active'
            USING ERRCODE = 'KW002';
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT FROM %I.org_shreds WHERE org_id = $1)', TG_TABLE_SCHEMA)
        INTO shredded USING NEW.org_id;
    IF shredded THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: organization % is shredded', NEW.org_id
            USING ERRCODE = 'KW002';
    END IF;
    EXECUTE format('SELECT coalesce(max(version), 0) FROM %I.%I WHERE org_id = $1',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO high USING NEW.org_id;
    IF NEW.version <> high + 1 THEN
        RAISE EXCEPTION 'keyward: key version conflict: version % after highest %', NEW.version, high
            USING ERRCODE = 'KW001';
    END IF;
    RETURN NEW;
END
$$;

-- 0001's update check, plus active → destroyed for a shredded organization
-- only (ShredOrg inserts into org_shreds first, in the same transaction).
CREATE OR REPLACE FUNCTION key_versions_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    shredded boolean := false;
BEGIN
    IF NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'keyward: key version identity is immutable' USING ERRCODE = 'KW003';
    END IF;
    IF OLD.state = 'active' AND NEW.state = 'destroyed' THEN
        EXECUTE format('SELECT EXISTS (SELECT FROM %I.org_shreds WHERE org_id = $1)', TG_TABLE_SCHEMA)
            INTO shredded USING NEW.org_id;
    END IF;
    IF NOT (NEW.state = OLD.state
            OR (OLD.state = 'active'       AND NEW.state = 'decrypt-only')
            OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
            OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed'))
            OR shredded) THEN
        RAISE EXCEPTION 'keyward: invalid key state transition from % to %', OLD.state, NEW.state
            USING ERRCODE = 'KW002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE legacy_keys (
    org_id      text COLLATE "C" NOT NULL,
    id          bigint           NOT NULL,
    kind        text             NOT NULL,
    state       text             NOT NULL,
    fingerprint text             NOT NULL,
    kek_id      text             NOT NULL,
    kek_version bigint           NOT NULL,
    wrapped     bytea,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    updated_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT legacy_keys_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT legacy_keys_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id),
    CONSTRAINT legacy_keys_id_check CHECK (id BETWEEN 1 AND 4294967295),
    CONSTRAINT legacy_keys_kind_check CHECK (kind IN ('fernet')),
    CONSTRAINT legacy_keys_state_check CHECK (state IN ('decrypt-only', 'retired', 'destroyed')),
    CONSTRAINT legacy_keys_fingerprint_check CHECK (fingerprint <> ''),
    CONSTRAINT legacy_keys_kek_id_check CHECK (kek_id <> ''),
    CONSTRAINT legacy_keys_kek_version_check CHECK (kek_version BETWEEN 0 AND 4294967295),
    CONSTRAINT legacy_keys_wrapped_check
        CHECK ((state = 'destroyed') = (wrapped IS NULL) AND (wrapped IS NULL OR length(wrapped) > 0))
);

CREATE UNIQUE INDEX legacy_keys_fingerprint ON legacy_keys (org_id, fingerprint);

CREATE INDEX legacy_keys_kek
    ON legacy_keys (kek_id COLLATE "C", kek_version) WHERE state <> 'destroyed';

-- Ids are 1, 2, 3… per organization; a key enters decrypt-only; a shredded
-- organization gets none.
CREATE FUNCTION legacy_keys_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    high     bigint;
    shredded boolean;
BEGIN
    IF NEW.state <> 'decrypt-only' THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: a legacy key enters decrypt-only'
            USING ERRCODE = 'KW002';
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT FROM %I.org_shreds WHERE org_id = $1)', TG_TABLE_SCHEMA)
        INTO shredded USING NEW.org_id;
    IF shredded THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: organization % is shredded', NEW.org_id
            USING ERRCODE = 'KW002';
    END IF;
    EXECUTE format('SELECT coalesce(max(id), 0) FROM %I.legacy_keys WHERE org_id = $1', TG_TABLE_SCHEMA)
        INTO high USING NEW.org_id;
    IF NEW.id <> high + 1 THEN
        RAISE EXCEPTION 'keyward: key version conflict: legacy key % after highest %', NEW.id, high
            USING ERRCODE = 'KW001';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER legacy_keys_check_insert
    BEFORE INSERT ON legacy_keys
    FOR EACH ROW EXECUTE FUNCTION legacy_keys_check_insert();

CREATE FUNCTION legacy_keys_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'keyward: legacy key identity is immutable' USING ERRCODE = 'KW003';
    END IF;
    IF NOT (NEW.state = OLD.state
            OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
            OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed'))) THEN
        RAISE EXCEPTION 'keyward: invalid key state transition from % to %', OLD.state, NEW.state
            USING ERRCODE = 'KW002';
    END IF;
    IF OLD.state = 'destroyed' AND (NEW.kek_id IS DISTINCT FROM OLD.kek_id
            OR NEW.kek_version IS DISTINCT FROM OLD.kek_version OR NEW.wrapped IS DISTINCT FROM OLD.wrapped) THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: destroyed legacy key %/% is final',
            OLD.org_id, OLD.id USING ERRCODE = 'KW002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER legacy_keys_check_update
    BEFORE UPDATE ON legacy_keys
    FOR EACH ROW EXECUTE FUNCTION legacy_keys_check_update();

CREATE TRIGGER legacy_keys_no_delete
    BEFORE DELETE ON legacy_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();

CREATE FUNCTION legacy_keys_append_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state = OLD.state THEN
        RETURN NULL;
    END IF;
    PERFORM keyward_append_change(TG_TABLE_SCHEMA, NEW.org_id, NEW.id, NEW.state, 'fernet');
    RETURN NULL;
END
$$;

CREATE TRIGGER legacy_keys_change_insert
    AFTER INSERT ON legacy_keys
    FOR EACH ROW EXECUTE FUNCTION legacy_keys_append_change();

CREATE TRIGGER legacy_keys_change_state
    AFTER UPDATE OF state ON legacy_keys
    FOR EACH ROW EXECUTE FUNCTION legacy_keys_append_change();

CREATE TABLE key_references (
    source     text COLLATE "C" NOT NULL,
    org_id     text COLLATE "C" NOT NULL,
    kind       text             NOT NULL,
    version    bigint           NOT NULL,
    count      bigint           NOT NULL,
    updated_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT key_references_pkey PRIMARY KEY (source, org_id, kind, version),
    CONSTRAINT key_references_source_check CHECK (source <> ''),
    CONSTRAINT key_references_org_check CHECK (org_id <> ''),
    CONSTRAINT key_references_kind_check CHECK (kind IN ('dek', 'fernet')),
    CONSTRAINT key_references_version_check CHECK (version BETWEEN 1 AND 4294967295),
    CONSTRAINT key_references_count_check CHECK (count > 0)
);

CREATE INDEX key_references_org ON key_references (org_id, source, kind, version);
