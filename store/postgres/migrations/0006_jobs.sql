-- 0006: re-encryption, migration and scan jobs (store.JobStore).
--
-- A job is split into chunks of its key space; a process leases a chunk
-- (owner, lease_until) with FOR UPDATE SKIP LOCKED, walks it in batches and
-- moves after_key forward with each checkpoint, adding the batch's counts to
-- the job in the same transaction. Keys are opaque text chosen by the job's
-- target; NULL after_key means "from the start", NULL upto_key "to the end".
-- Failures name rows by id and say why, never what the value was. Lease
-- times are the server's clock (now()), the same for every process.

CREATE TABLE jobs (
    id          text COLLATE "C" NOT NULL,
    kind        text        NOT NULL,
    target      text        NOT NULL,
    org         text        NOT NULL DEFAULT '',
    state       text        NOT NULL,
    total       bigint      NOT NULL DEFAULT 0,
    done        bigint      NOT NULL DEFAULT 0,
    rewritten   bigint      NOT NULL DEFAULT 0,
    current     bigint      NOT NULL DEFAULT 0,
    skipped     bigint      NOT NULL DEFAULT 0,
    failed      bigint      NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_id_check CHECK (id <> ''),
    CONSTRAINT jobs_kind_check CHECK (kind <> ''),
    CONSTRAINT jobs_state_check CHECK (state IN ('running', 'done', 'failed')),
    CONSTRAINT jobs_counts_check CHECK (total >= 0 AND done >= 0 AND rewritten >= 0
        AND current >= 0 AND skipped >= 0 AND failed >= 0)
);

CREATE TABLE job_chunks (
    job_id      text COLLATE "C" NOT NULL,
    idx         integer     NOT NULL,
    after_key   text,
    upto_key    text,
    done        boolean     NOT NULL DEFAULT false,
    owner       text,
    lease_until timestamptz,
    CONSTRAINT job_chunks_pkey PRIMARY KEY (job_id, idx),
    CONSTRAINT job_chunks_job_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    CONSTRAINT job_chunks_idx_check CHECK (idx >= 0)
);

CREATE TABLE job_failures (
    job_id text COLLATE "C" NOT NULL,
    row_id text COLLATE "C" NOT NULL,
    reason text NOT NULL,
    CONSTRAINT job_failures_pkey PRIMARY KEY (job_id, row_id),
    CONSTRAINT job_failures_job_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
);
