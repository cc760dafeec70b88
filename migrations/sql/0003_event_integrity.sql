-- Tamper evidence for the event store, and a read-only window on it for auditors.
--
-- 1. A SHA-256 hash chain over positions. Every row carries
--        prev_hash = hash of the row with the greatest position before it
--                    (for the first row: 32 zero bytes, event_chain_genesis())
--        hash      = sha256(prev_hash || event_digest_input(row))
--    computed by a BEFORE INSERT trigger, so no writer can forget it and none can choose it.
--    Changing a recorded row (its content or its hash) or removing one breaks the chain at that
--    point, and projections/audit/integrity.py (verify_chain) finds the first break. The
--    immutability triggers of 0001 still refuse UPDATE, DELETE and TRUNCATE; the chain is what
--    remains when someone with enough rights goes around them (a superuser, a restored dump,
--    an edited data file), so that such a change is evident rather than silent.
--
-- 2. Views in schema `audit` and a role `bytedash_auditor` that can read those views and
--    nothing else (see the end of this file).
--
-- Writers are already serialised by `LOCK TABLE events IN EXCLUSIVE MODE` (the eventsourcing
-- recorder takes it in every append transaction), so "the row before" is well defined. A
-- statement-level trigger also takes a transaction-level advisory lock, so that inserts from
-- anywhere else (psql, COPY, a script) are serialised too and can never both chain to the same
-- predecessor and fork the chain.

ALTER TABLE events
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash bytea;

-- Not NOT NULL on purpose: bench/store.py copies the table (LIKE events) to measure plain
-- INSERTs without our triggers, and a row written around the trigger is caught by verification
-- anyway (an empty hash never matches).
COMMENT ON COLUMN events.prev_hash IS
    'hash of the previous row by position (32 zero bytes for the first); set by the trigger';
COMMENT ON COLUMN events.hash IS
    'sha256(prev_hash || event_digest_input(row)); set by the trigger, checked by verify_chain';

CREATE FUNCTION event_chain_genesis() RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;

COMMENT ON FUNCTION event_chain_genesis() IS
    'prev_hash of the first event: 32 zero bytes, so removing the first events is evident too';

-- The canonical bytes of one row: the UTF-8 text of a JSON array, in this fixed order:
--   [1 (format version), position, event_id, originator_id, originator_version,
--    aggregate_type, event_type, topic, data, org_id, actor, source, workflow_id,
--    workflow_run_id, workflow_type, activity_id, correlation_id, causation_id, command_id,
--    occurred_at, recorded_at]
-- Why a JSON array: jsonb's text form is canonical (object keys in one fixed order, no
-- insignificant whitespace choices, strings escaped one way), a missing value is a visible
-- `null` rather than an empty string, and no value can run into the next one, so two different rows can never give
-- the same bytes. `data` is embedded as jsonb, i.e. its canonical data::text. Times are
-- written in UTC with microseconds ("2024-05-01T12:00:00.000000Z") so that the session's
-- TimeZone and DateStyle settings cannot change the bytes. The hash columns are not included.
-- Used by the trigger below and by verification: one definition, so they cannot disagree.
CREATE FUNCTION event_digest_input(e events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN convert_to(
    jsonb_build_array(
        1,
        e.position,
        e.event_id,
        e.originator_id,
        e.originator_version,
        e.aggregate_type,
        e.event_type,
        e.topic,
        e.data,
        e.org_id,
        e.actor,
        e.source,
        e.workflow_id,
        e.workflow_run_id,
        e.workflow_type,
        e.activity_id,
        e.correlation_id,
        e.causation_id,
        e.command_id,
        to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )::text,
    'UTF8'
);

COMMENT ON FUNCTION event_digest_input(events) IS
    'Canonical bytes of an event row for the hash chain (see 0003_event_integrity.sql)';

-- Row trigger: link NEW to the row with the greatest position before it. Within one
-- multi-row INSERT (the recorder inserts a whole save in one statement), a row-level BEFORE
-- trigger sees the rows of the same statement processed before it, and identity positions are
-- drawn in processing order, so each row chains to the one inserted just before it.
CREATE FUNCTION events_chain_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    SELECT e.hash INTO previous
    FROM events e
    WHERE e.position < NEW.position
    ORDER BY e.position DESC
    LIMIT 1;
    -- No row before (the first event), or one written around this trigger (its empty hash is
    -- reported by verification at that row): chain from the genesis value.
    NEW.prev_hash := coalesce(previous, event_chain_genesis());
    NEW.hash := sha256(NEW.prev_hash || event_digest_input(NEW));
    RETURN NEW;
END;
$$;

-- Statement trigger: serialise every inserting statement until its transaction ends. An
-- advisory lock rather than the recorder's LOCK TABLE: a plain INSERT already holds ROW
-- EXCLUSIVE on the table when this fires, and two of them each upgrading to EXCLUSIVE would
-- deadlock each other; the advisory lock makes the second simply wait for the first to commit.
-- It fires before any row draws its position, so positions are drawn under the lock as well.
-- The recorder holds the table lock already, so for it this lock is never contended.
-- Key: 0x6279746563686169 (ASCII "bytechai"); migrations/runner.py uses another key.
CREATE FUNCTION events_chain_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7095830666707231081);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_chain_lock
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_chain_lock();

CREATE TRIGGER events_chain_link
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain_link();

-- Backfill the events recorded before this migration, in position order. ADD COLUMN above
-- holds an ACCESS EXCLUSIVE lock until commit, so no writer can slip in between; the
-- immutability trigger is switched off for these UPDATEs only, inside this transaction.
ALTER TABLE events DISABLE TRIGGER events_immutable_rows;

DO $$
DECLARE
    r events;
    previous bytea := event_chain_genesis();
BEGIN
    FOR r IN SELECT * FROM events ORDER BY position LOOP
        UPDATE events
        SET prev_hash = previous,
            hash = sha256(previous || event_digest_input(r))
        WHERE position = r.position
        RETURNING hash INTO previous;
    END LOOP;
END;
$$;

ALTER TABLE events ENABLE TRIGGER events_immutable_rows;


-- Lineage (projections/audit/lineage.py): which executions and tasks name a contact, and which
-- tasks an execution created. Partial, so that only those creation events pay for the index.
CREATE INDEX events_contact_ref_idx ON events (org_id, (data->>'contact_id'))
    WHERE event_type IN ('WorkflowExecution.Created', 'Task.Assigned');
CREATE INDEX events_execution_ref_idx ON events (org_id, (data->>'execution_id'))
    WHERE event_type = 'Task.Assigned';


-- ---------------------------------------------------------------------------------------------
-- Auditors' views. Plain views (not security_invoker): they read with their owner's rights, so
-- a role granted only these views sees the events through them without any right on the tables.

CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS 'Read-only views of the event store for auditors (bytedash_auditor)';

-- Every event, with the contract's names (aggregate_id, aggregate_version) and hashes in hex.
CREATE VIEW audit.events AS
SELECT
    e.position,
    e.event_id,
    e.aggregate_type,
    e.originator_id AS aggregate_id,
    e.originator_version AS aggregate_version,
    e.event_type,
    e.topic,
    e.data,
    e.org_id,
    e.actor,
    e.source,
    e.workflow_id,
    e.workflow_run_id,
    e.workflow_type,
    e.activity_id,
    e.correlation_id,
    e.causation_id,
    e.command_id,
    e.occurred_at,
    e.recorded_at,
    encode(e.prev_hash, 'hex') AS prev_hash,
    encode(e.hash, 'hex') AS hash
FROM events e;

COMMENT ON VIEW audit.events IS
    'Every recorded event, in position order by `position`; hashes of the chain in hex';

-- One row per aggregate. Filters on aggregate_id / aggregate_type / org_id are pushed down
-- into the grouped scan, so looking one aggregate up uses the primary key.
CREATE VIEW audit.aggregate_versions AS
SELECT
    e.aggregate_type,
    e.originator_id AS aggregate_id,
    e.org_id,
    min(e.position) AS first_position,
    max(e.position) AS last_position,
    max(e.originator_version) AS version,
    count(*) AS event_count,
    min(e.occurred_at) AS created_at,
    max(e.occurred_at) AS updated_at
FROM events e
GROUP BY e.aggregate_type, e.originator_id, e.org_id;

COMMENT ON VIEW audit.aggregate_versions IS
    'Per aggregate: type, id, org, first/last position, current version, created/updated times';

-- One row per Temporal workflow id that caused events.
CREATE VIEW audit.workflow_activity AS
SELECT
    e.workflow_id,
    e.org_id,
    min(e.workflow_type) AS workflow_type,
    count(DISTINCT e.workflow_run_id) AS runs,
    array_agg(DISTINCT e.workflow_run_id) FILTER (WHERE e.workflow_run_id IS NOT NULL)
        AS run_ids,
    min(e.occurred_at) AS first_occurred_at,
    max(e.occurred_at) AS last_occurred_at,
    min(e.position) AS first_position,
    max(e.position) AS last_position,
    count(*) AS event_count
FROM events e
WHERE e.workflow_id IS NOT NULL
GROUP BY e.workflow_id, e.org_id;

COMMENT ON VIEW audit.workflow_activity IS
    'Per workflow id: org, workflow type, runs, first/last occurrence, event count';


-- ---------------------------------------------------------------------------------------------
-- The auditor role. Roles belong to the whole server (every database on it shares them), so it
-- is created only when missing, and a migration run by a user without CREATEROLE still
-- succeeds (with a NOTICE: an administrator can create the role and re-grant). The grants are
-- per database and run on every migration.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bytedash_auditor') THEN
        BEGIN
            CREATE ROLE bytedash_auditor NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it at the same moment
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role bytedash_auditor not created: % (ask an administrator to '
                    'CREATE ROLE bytedash_auditor NOLOGIN, then re-run the grants of '
                    '0003_event_integrity.sql)', SQLERRM;
        END;
    END IF;
END;
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bytedash_auditor') THEN
        RAISE NOTICE 'role bytedash_auditor does not exist: audit views not granted';
        RETURN;
    END IF;
    -- Only the views: nothing in public (events, read models, tracking), in this database.
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM bytedash_auditor;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM bytedash_auditor;
    REVOKE ALL ON SCHEMA public FROM bytedash_auditor;
    REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM bytedash_auditor;
    GRANT USAGE ON SCHEMA audit TO bytedash_auditor;
    GRANT SELECT ON audit.events, audit.aggregate_versions, audit.workflow_activity
        TO bytedash_auditor;
END;
$$;
