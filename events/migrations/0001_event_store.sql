-- accord event store: the append-only, hash-chained history of every governance process.
--
-- Applied by events/migrate.py inside one transaction and recorded in accord.schema_migrations.
-- Read the COMMENT ON statements below (or \d+ accord.events in psql) for what each part is for.

CREATE SCHEMA IF NOT EXISTS accord;
COMMENT ON SCHEMA accord IS
    'accord: event-sourced governance workflows. accord.events is the append-only, hash-chained '
    'history of every process; accord.schema_migrations records which migrations built this schema.';

-- ---------------------------------------------------------------------------------------------
-- Migration bookkeeping. Created by the first migration so that every table of the schema is
-- defined in a plain SQL file an auditor can read.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE accord.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE accord.schema_migrations IS
    'One row per applied migration file (events/migrations/NNNN_name.sql), written in the same '
    'transaction as the migration itself.';
COMMENT ON COLUMN accord.schema_migrations.version IS 'The NNNN number of the migration file.';
COMMENT ON COLUMN accord.schema_migrations.name IS 'The file name without .sql, e.g. 0001_event_store.';
COMMENT ON COLUMN accord.schema_migrations.checksum IS
    'sha-256 (hex) of the file as applied. The migrator refuses to run if an applied file has changed.';
COMMENT ON COLUMN accord.schema_migrations.applied_at IS 'When the migration committed.';

-- ---------------------------------------------------------------------------------------------
-- The events.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE accord.events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       text        NOT NULL CHECK (stream_id <> ''),
    stream_version  integer     NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL UNIQUE,
    event_type      text        NOT NULL CHECK (event_type <> ''),
    data            jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    metadata        jsonb       NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    recorded_at     timestamptz NOT NULL,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

COMMENT ON TABLE accord.events IS
    'Append-only history of every accord process (one stream per process, e.g. decision-<id>). '
    'Rows are never updated or deleted: a trigger refuses UPDATE, DELETE and TRUNCATE. Each row '
    'carries a sha-256 hash chained to the previous event of its stream, so a change made around '
    'the trigger (by a superuser) is found by recomputing the chain: '
    'hash = sha256(prev_hash || RFC 8785 canonical JSON of {stream_id, stream_version, event_id, '
    'event_type, data, metadata, recorded_at}); the exact rule is in events/hashing.py. '
    'To follow all events in commit-safe order, read rows with transaction_id < '
    'pg_snapshot_xmin(pg_current_snapshot()) ordered by (transaction_id, global_position).';
COMMENT ON COLUMN accord.events.global_position IS
    'Position in the global log: unique and increasing in insertion order, but it may have gaps '
    '(rolled-back inserts use up numbers) and is allocated before commit, so a transaction that '
    'commits late can hold a lower position than rows already visible. Do not tail by this column '
    'alone; see transaction_id.';
COMMENT ON COLUMN accord.events.stream_id IS
    'The process this event belongs to, e.g. decision-<id> or dispute-<id>.';
COMMENT ON COLUMN accord.events.stream_version IS
    'Position of the event within its stream: 1, 2, 3, ... without gaps. Unique with stream_id: '
    'this is the optimistic-concurrency guard (two writers cannot both record version N).';
COMMENT ON COLUMN accord.events.event_id IS
    'Identifier of the event, chosen deterministically by the writer so that a retried append '
    'is recognised instead of recorded twice.';
COMMENT ON COLUMN accord.events.event_type IS 'Kind of event, e.g. ProposalSubmitted.';
COMMENT ON COLUMN accord.events.data IS
    'The event payload (a JSON object). jsonb reorders keys and rewrites number formats; the hash '
    'covers the RFC 8785 canonical form, which is the same before and after that rewrite.';
COMMENT ON COLUMN accord.events.metadata IS
    'Who and what caused the event: actor, workflow id and run id, correlation and causation ids, '
    'schema version. Provided by the writer, covered by the hash.';
COMMENT ON COLUMN accord.events.recorded_at IS
    'When the event was recorded (database clock, UTC, microseconds). Never decreases within a '
    'stream, so "the stream as of time T" is a prefix of the stream. Covered by the hash.';
COMMENT ON COLUMN accord.events.transaction_id IS
    'The PostgreSQL transaction that inserted the row (pg_current_xact_id()). Readers that tail '
    'the log read only rows with transaction_id < pg_snapshot_xmin(pg_current_snapshot()): every '
    'such transaction has finished, so no row can still appear below the reader''s checkpoint. '
    'Not covered by the hash (it is assigned by the server, not by the writer).';
COMMENT ON COLUMN accord.events.prev_hash IS
    'hash of the previous event of the same stream; 32 zero bytes for version 1.';
COMMENT ON COLUMN accord.events.hash IS
    'sha256(prev_hash || canonical bytes of this event); see the table comment and events/hashing.py.';

CREATE INDEX events_tailing_idx ON accord.events (transaction_id, global_position);
COMMENT ON INDEX accord.events_tailing_idx IS
    'Serves readers that follow the global log in commit-safe order (transaction_id, global_position).';

-- ---------------------------------------------------------------------------------------------
-- Append-only: refuse every change to a recorded event.
-- A table owner or superuser can still disable these triggers; that is why events are also
-- hash-chained, and why the application connects as accord_app, which owns nothing.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION accord.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'accord.events is append-only: % is not allowed', TG_OP
        USING DETAIL = 'Recorded events are never changed or removed.',
              HINT = 'Record a new event that corrects or supersedes the old one.';
END;
$$;
COMMENT ON FUNCTION accord.refuse_event_change() IS
    'Trigger function that rejects UPDATE, DELETE and TRUNCATE on accord.events.';

CREATE TRIGGER events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON accord.events
    FOR EACH ROW EXECUTE FUNCTION accord.refuse_event_change();
COMMENT ON TRIGGER events_refuse_update_delete ON accord.events IS
    'accord.events is append-only: every UPDATE or DELETE of a row is refused.';

CREATE TRIGGER events_refuse_truncate
    BEFORE TRUNCATE ON accord.events
    FOR EACH STATEMENT EXECUTE FUNCTION accord.refuse_event_change();
COMMENT ON TRIGGER events_refuse_truncate ON accord.events IS
    'accord.events is append-only: TRUNCATE is refused.';

-- ---------------------------------------------------------------------------------------------
-- The application role. Roles belong to the whole cluster, not to one database, so several
-- databases (or several migrators) may try to create it at the same moment: create it only if
-- missing and treat "already exists" from a concurrent creator as success.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'accord_app') THEN
        CREATE ROLE accord_app NOLOGIN;
        COMMENT ON ROLE accord_app IS
            'accord application: may read and append events, never change or delete them. '
            'Grant it to the login role the application connects with.';
    END IF;
EXCEPTION
    -- duplicate_object: created between our check and CREATE ROLE; unique_violation: a
    -- concurrent CREATE ROLE committed while ours waited on the pg_authid index.
    WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;

-- What accord_app may do, and nothing more:
--   * USAGE on schema accord, to name its objects;
--   * SELECT on accord.events, to read streams, tail the log and verify chains;
--   * INSERT on accord.events, limited to the columns the writer supplies. global_position and
--     transaction_id are left to the server: an identity column needs no grant on its sequence,
--     and the tailing guarantee relies on transaction_id being the real inserting transaction.
-- No UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER, and nothing on accord.schema_migrations
-- (migrations run as the schema owner, not as accord_app).
REVOKE ALL ON accord.events FROM PUBLIC;
REVOKE ALL ON accord.schema_migrations FROM PUBLIC;
GRANT USAGE ON SCHEMA accord TO accord_app;
GRANT SELECT ON accord.events TO accord_app;
GRANT INSERT (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at,
              prev_hash, hash)
    ON accord.events TO accord_app;
