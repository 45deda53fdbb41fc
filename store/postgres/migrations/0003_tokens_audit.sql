-- 0003: access tokens (store.TokenStore) and the audit log (store.AuditStore).
--
-- tokens keeps the SHA-256 of each token's secret bytes, never the token;
-- the public id is derived from the token by package policy and reveals
-- nothing of it. grants is a JSON array of {org, capability, pattern},
-- opaque to the store. NULL expires_at means never, NULL revoked_at means
-- live. Revocation is final. Trigger errors use keyward's SQLSTATE class
-- KW (KW003: a broken invariant).
CREATE TABLE tokens (
    id          text COLLATE "C" NOT NULL,
    hash        bytea            NOT NULL,
    grants      jsonb            NOT NULL,
    description text             NOT NULL,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT tokens_pkey PRIMARY KEY (id),
    CONSTRAINT tokens_hash_key UNIQUE (hash),
    CONSTRAINT tokens_id_check CHECK (length(id) BETWEEN 1 AND 64),
    CONSTRAINT tokens_hash_check CHECK (length(hash) = 32),
    CONSTRAINT tokens_grants_check CHECK (jsonb_typeof(grants) = 'array')
);

CREATE FUNCTION tokens_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL
       OR NEW.id IS DISTINCT FROM OLD.id OR NEW.hash IS DISTINCT FROM OLD.hash
       OR NEW.grants IS DISTINCT FROM OLD.grants OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        RAISE EXCEPTION 'keyward: token % changes only by its revocation, which is final', OLD.id
            USING ERRCODE = 'KW003';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tokens_check_update BEFORE UPDATE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tokens_check_update();

-- The audit key: 32 random bytes wrapped by the KEK (one row).
CREATE TABLE audit_key (
    id          integer     NOT NULL,
    kek_id      text        NOT NULL,
    kek_version bigint      NOT NULL,
    wrapped     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_key_pkey PRIMARY KEY (id),
    CONSTRAINT audit_key_id_check CHECK (id = 1),
    CONSTRAINT audit_key_kek_id_check CHECK (kek_id <> ''),
    CONSTRAINT audit_key_kek_version_check CHECK (kek_version BETWEEN 0 AND 4294967295),
    CONSTRAINT audit_key_wrapped_check CHECK (length(wrapped) > 0)
);

-- The audit log: one row per event, hash-chained by mac (package audit).
-- The triggers below make it append-only for keyward and careless hands;
-- the keyed chain is what proves it untouched (keyward audit verify), since
-- a role with enough privileges can drop a trigger.
CREATE TABLE audit_events (
    seq         bigint           NOT NULL,
    at          timestamptz      NOT NULL,
    request_id  text             NOT NULL,
    token_id    text             NOT NULL,
    org_id      text COLLATE "C" NOT NULL,
    action      text             NOT NULL,
    name        text             NOT NULL,
    context     text             NOT NULL,
    key_version bigint           NOT NULL,
    outcome     text             NOT NULL,
    code        text             NOT NULL,
    value_mac   text             NOT NULL,
    mac         bytea            NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (seq),
    CONSTRAINT audit_events_seq_check CHECK (seq >= 1),
    CONSTRAINT audit_events_key_version_check CHECK (key_version BETWEEN 0 AND 4294967295),
    CONSTRAINT audit_events_mac_check CHECK (length(mac) = 32)
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'keyward: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'KW003';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- The chain head: the last event's seq and mac, locked (FOR UPDATE) and
-- updated in the transaction of every append, which serialises appends
-- across processes. One row, present from the start (seq 0: empty log).
CREATE TABLE audit_head (
    id  integer NOT NULL,
    seq bigint  NOT NULL,
    mac bytea,
    CONSTRAINT audit_head_pkey PRIMARY KEY (id),
    CONSTRAINT audit_head_id_check CHECK (id = 1),
    CONSTRAINT audit_head_seq_check CHECK (seq >= 0),
    CONSTRAINT audit_head_mac_check CHECK ((seq = 0) = (mac IS NULL) AND (mac IS NULL OR length(mac) = 32))
);

INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, NULL);

CREATE FUNCTION audit_head_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'keyward: the audit chain head only moves forward' USING ERRCODE = 'KW003';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_head_check BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_check();
