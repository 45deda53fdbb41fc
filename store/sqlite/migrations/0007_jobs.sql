-- 0007: re-encryption, migration and scan jobs (store.JobStore).
--
-- A job is split into chunks of its key space; a process leases a chunk
-- (owner, lease_until in unix milliseconds), walks it in batches and moves
-- after_key forward with each checkpoint, adding the batch's counts to the
-- job in the same transaction. Keys are opaque text chosen by the job's
-- target; NULL after_key means "from the start", NULL upto_key "to the end".
-- Failures name rows by id and say why, never what the value was.

CREATE TABLE jobs (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    kind        TEXT    NOT NULL CHECK (kind <> ''),
    target      TEXT    NOT NULL,
    org         TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    total       INTEGER NOT NULL DEFAULT 0 CHECK (total >= 0),
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done >= 0),
    rewritten   INTEGER NOT NULL DEFAULT 0 CHECK (rewritten >= 0),
    current     INTEGER NOT NULL DEFAULT 0 CHECK (current >= 0),
    skipped     INTEGER NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    failed      INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
    error       TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE TABLE job_chunks (
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    after_key   TEXT,
    upto_key    TEXT,
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    owner       TEXT,
    lease_until INTEGER,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE job_failures (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (job_id, row_id)
);
