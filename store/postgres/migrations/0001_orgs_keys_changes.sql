-- 0001: organizations, the wrapped versions of their data keys, usage
-- counters and the change feed.
--
-- Every object is created in the store's schema (the connection's
-- search_path names only it). The invariants of package store are enforced
-- here as far as constraints and triggers can express them; the Go code
-- checks them again inside each transaction and reports the precise sentinel
-- error. Trigger errors carry SQLSTATEs of keyward's own class KW, which the
-- store maps to sentinels: KW001 version conflict, KW002 invalid state
-- transition, KW003 any other broken invariant (invalid argument).
--
-- Trigger functions reach other tables through TG_TABLE_SCHEMA, never
-- through the search_path, so they behave the same for a psql session with a
-- different search_path.

CREATE TABLE orgs (
    -- COLLATE "C": ids compare bytewise, as in the SQLite store.
    id         text COLLATE "C" NOT NULL,
    created_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT orgs_pkey PRIMARY KEY (id),
    CONSTRAINT orgs_id_check CHECK (id <> '')
);

CREATE TABLE key_versions (
    org_id      text COLLATE "C" NOT NULL,
    version     bigint           NOT NULL,
    state       text             NOT NULL,
    kek_id      text             NOT NULL,
    kek_version bigint           NOT NULL,
    wrapped     bytea,
    -- Encryptions reserved under this version (ReserveUsage). bigint: the
    -- count tops out at 2^63-1, far above the nonce budget of 2^32.
    usage       bigint           NOT NULL DEFAULT 0,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    updated_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT key_versions_pkey PRIMARY KEY (org_id, version),
    CONSTRAINT key_versions_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id),
    CONSTRAINT key_versions_version_check CHECK (version BETWEEN 1 AND 4294967295),
    CONSTRAINT key_versions_state_check
        CHECK (state IN ('active', 'decrypt-only', 'retired', 'destroyed')),
    CONSTRAINT key_versions_kek_id_check CHECK (kek_id <> ''),
    CONSTRAINT key_versions_kek_version_check CHECK (kek_version BETWEEN 0 AND 4294967295),
    -- A destroyed version has no wrapped key; every other version has one.
    CONSTRAINT key_versions_wrapped_check
        CHECK ((state = 'destroyed') = (wrapped IS NULL) AND (wrapped IS NULL OR length(wrapped) > 0)),
    CONSTRAINT key_versions_usage_check CHECK (usage >= 0)
);

-- At most one active version per organization (exactly one is kept by the
-- transactions: CreateOrg inserts it, AddKey swaps it).
CREATE UNIQUE INDEX key_versions_one_active ON key_versions (org_id) WHERE state = 'active';

-- A new version enters as the active one, numbered highest + 1 (no gap, no
-- reuse).
CREATE FUNCTION key_versions_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    high bigint;
BEGIN
    IF NEW.state <> 'active' THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: a new key version must be active'
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

CREATE TRIGGER key_versions_check_insert
    BEFORE INSERT ON key_versions
    FOR EACH ROW EXECUTE FUNCTION key_versions_check_insert();

-- States move forward only; retired may return to decrypt-only; destroyed is
-- final (the CHECK above keeps its wrapped key erased). A version's identity
-- never changes. The trigger is limited to these columns, so a usage
-- reservation does not run it.
CREATE FUNCTION key_versions_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'keyward: key version identity is immutable' USING ERRCODE = 'KW003';
    END IF;
    IF NOT (NEW.state = OLD.state
            OR (OLD.state = 'active'       AND NEW.state = 'decrypt-only')
            OR (OLD.state = 'decrypt-only' AND NEW.state IN ('retired', 'destroyed'))
            OR (OLD.state = 'retired'      AND NEW.state IN ('decrypt-only', 'destroyed'))) THEN
        RAISE EXCEPTION 'keyward: invalid key state transition from % to %', OLD.state, NEW.state
            USING ERRCODE = 'KW002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER key_versions_check_update
    BEFORE UPDATE OF org_id, version, state, created_at ON key_versions
    FOR EACH ROW EXECUTE FUNCTION key_versions_check_update();

-- The usage count never goes back, and a retired or destroyed version takes
-- no reservations.
CREATE FUNCTION key_versions_check_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.usage < OLD.usage THEN
        RAISE EXCEPTION 'keyward: key usage never decreases' USING ERRCODE = 'KW003';
    END IF;
    IF OLD.state NOT IN ('active', 'decrypt-only') THEN
        RAISE EXCEPTION 'keyward: invalid key state transition: no usage under a % key version', OLD.state
            USING ERRCODE = 'KW002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER key_versions_check_usage
    BEFORE UPDATE OF usage ON key_versions
    FOR EACH ROW WHEN (NEW.usage IS DISTINCT FROM OLD.usage)
    EXECUTE FUNCTION key_versions_check_usage();

-- Versions are never deleted, so a version number is never reused.
CREATE FUNCTION keyward_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'keyward: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'KW003';
END
$$;

CREATE TRIGGER key_versions_no_delete
    BEFORE DELETE ON key_versions
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();

-- Organizations are never deleted or renamed: their versions, the change
-- feed and the ciphertexts in applications' tables refer to the id.
CREATE TRIGGER orgs_immutable
    BEFORE UPDATE OF id OR DELETE ON orgs
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();

-- An organization never exists without its version 1: checked at commit, so
-- CreateOrg may insert the org before its key.
CREATE FUNCTION orgs_check_first_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    found boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT FROM %I.key_versions WHERE org_id = $1 AND version = 1)',
                   TG_TABLE_SCHEMA)
        INTO found USING NEW.id;
    IF NOT found THEN
        RAISE EXCEPTION 'keyward: organization % has no key version 1', NEW.id USING ERRCODE = 'KW003';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER orgs_first_version
    AFTER INSERT ON orgs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION orgs_check_first_version();

-- The change feed. change_counter is one row; appending a change increments
-- it with UPDATE, whose row lock is held until commit, so writers of changes
-- are serialised and seq order is commit order: a poller that has seen seq
-- n never later finds a new change below n (a sequence would not give that:
-- a transaction can take seq 5, another seq 6 and commit first).
--
-- Lock order: a transaction takes the counter last. After the increment it
-- only inserts into changes (no foreign key, no other row lock) and
-- commits, so a transaction holding the counter never waits for one waiting
-- for the counter, and writers of changes cannot deadlock.
CREATE TABLE change_counter (
    singleton boolean NOT NULL DEFAULT true,
    seq       bigint  NOT NULL,
    CONSTRAINT change_counter_pkey PRIMARY KEY (singleton),
    CONSTRAINT change_counter_singleton_check CHECK (singleton),
    CONSTRAINT change_counter_seq_check CHECK (seq >= 0)
);

INSERT INTO change_counter (singleton, seq) VALUES (true, 0);

CREATE TABLE changes (
    seq        bigint           NOT NULL,
    org_id     text COLLATE "C" NOT NULL,
    -- The version that changed and its new state, for diagnosis: a new
    -- version (CreateOrg, AddKey) is recorded as active, SetKeyState and
    -- DestroyKey record the version they moved.
    version    bigint           NOT NULL,
    state      text             NOT NULL,
    changed_at timestamptz      NOT NULL DEFAULT now(),
    -- No foreign key to orgs, on purpose: its check would lock the org row
    -- after the counter (see below), and the org exists anyway, since the
    -- row that triggers the change references it.
    CONSTRAINT changes_pkey PRIMARY KEY (seq)
);

-- Appends one change for NEW's organization and notifies listeners; the
-- notification is delivered at commit, and not at all on rollback. Inserting
-- a version is a change; so is a state change other than AddKey's demotion
-- of the active version (the insert of its successor records that).
--
-- The channel is the schema's: 'keyward_changes:' and the schema name, or
-- 'keyward_changes#' and a hash of the name when that would not fit in an
-- identifier (63 bytes). The Go code computes the same name (channelName).
CREATE FUNCTION key_versions_append_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next    bigint;
    channel text := 'keyward_changes:' || TG_TABLE_SCHEMA;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.state = OLD.state OR OLD.state = 'active') THEN
        RETURN NULL;
    END IF;
    EXECUTE format('UPDATE %I.change_counter SET seq = seq + 1 RETURNING seq', TG_TABLE_SCHEMA)
        INTO next;
    IF next IS NULL THEN
        RAISE EXCEPTION 'keyward: %.change_counter has no row', TG_TABLE_SCHEMA USING ERRCODE = 'KW003';
    END IF;
    EXECUTE format('INSERT INTO %I.changes (seq, org_id, version, state) VALUES ($1, $2, $3, $4)',
                   TG_TABLE_SCHEMA)
        USING next, NEW.org_id, NEW.version, NEW.state;
    IF octet_length(channel) > 63 THEN
        channel := 'keyward_changes#'
            || left(encode(sha256(convert_to(TG_TABLE_SCHEMA, 'UTF8')), 'hex'), 32);
    END IF;
    PERFORM pg_notify(channel, next || ':' || NEW.org_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER key_versions_change_insert
    AFTER INSERT ON key_versions
    FOR EACH ROW EXECUTE FUNCTION key_versions_append_change();

CREATE TRIGGER key_versions_change_state
    AFTER UPDATE OF state ON key_versions
    FOR EACH ROW EXECUTE FUNCTION key_versions_append_change();

-- The feed is append-only: a reader that saw seq n must be able to trust
-- that what it saw stays as it was.
CREATE TRIGGER changes_append_only
    BEFORE UPDATE OR DELETE ON changes
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();

CREATE TRIGGER change_counter_no_delete
    BEFORE DELETE ON change_counter
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse();
