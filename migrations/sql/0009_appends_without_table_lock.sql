-- Appends without a lock on the whole table; the hash chain sealed after commit, by a follower.
--
-- Until now every append took `LOCK TABLE events IN EXCLUSIVE MODE` (0001, 0008) and a row
-- trigger chained each row to the one before it (0003). Both made positions commit in order,
-- and both made every writer wait for every other. From here on:
--
-- 1. Writers take no table lock. Positions are still drawn from the one identity sequence, so
--    they are unique and increase in the order they are drawn, but a transaction that drew a
--    lower position may commit after one that drew a higher position. A follower that read
--    "position > N" naively could move past a position that commits later, and skip it forever.
--
-- 2. Followers therefore read only up to a *safe head*: a position below which nothing can
--    still commit. Every inserting statement on `events` first takes a *shared* advisory lock
--    (the statement trigger below; it fires before the statement draws any position), and
--    holds it until its transaction ends. `events_watermark()` reads, in this order, the
--    sequence's last drawn value L and the set H of transactions holding that lock. Every
--    position <= L was drawn before L was read, by a transaction that held the lock from before
--    it drew; so when H was read, that transaction had either ended (committed, and visible to
--    every later snapshot; or rolled back, and never visible) or was in H. Once every member of
--    H has ended, every position <= L that will ever exist is visible: L is safe.
--    projections/horizon.py keeps the observations of one follower and answers the safe head
--    without waiting; `events_safe_head()` is the same rule for one-off readers, waiting a
--    bounded time for the members of H to end. docs/event-store.md has the whole argument.
--    Transactions that never touch `events` (read-model writes, Temporal's own database on the
--    same server, a long report) are never in H, so unlike a rule on the snapshot's xmin they
--    cannot hold followers back.
--
-- 3. The hash chain moves to its own table, `event_chain`, written by one follower (the
--    sealer, projections/chain.py) in position order up to the safe head, with the same digest
--    (`event_digest_input`, 0003) and the same links: hash = sha256(prev_hash || digest), the
--    first row chained to 32 zero bytes. The chain values of every event recorded before this
--    migration are moved there unchanged, so an existing store verifies exactly as before.
--
-- 4. The append no longer NOTIFYs. Postgres serialises the commits of every transaction that
--    NOTIFYs (from pre-commit until its commit record is flushed), which made concurrent appends
--    as slow as one; the recorder rings a doorbell after its commit instead
--    (application/store/doorbell.py).
--
-- The identity sequence keeps CACHE 1 (stated below): with a per-session cache, values would
-- no longer be handed out in the order they are drawn, and the argument above would not hold.

-- -- 1. no table lock, no per-row chain trigger ------------------------------------------------

DROP TRIGGER events_chain_link ON events;
DROP TRIGGER events_chain_lock ON events;
DROP FUNCTION events_chain_link();
DROP FUNCTION events_chain_lock();

ALTER TABLE events ALTER COLUMN position SET CACHE 1;

-- Key 0x6279746561707065 (ASCII "byteappe"); in pg_locks: classid 1652126821, objid 1634758757,
-- objsubid 1 (a bigint key). Shared: appenders never wait for each other on it.
CREATE FUNCTION events_append_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7095830666674204773);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_append_guard
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_guard();

COMMENT ON FUNCTION events_append_guard() IS
    'Marks the inserting transaction as an in-flight appender until it ends (see 0009)';

CREATE OR REPLACE FUNCTION events_append(
    p_org_id text, p_actor text, p_source text, p_workflow_id text, p_workflow_run_id text,
    p_workflow_type text, p_activity_id text, p_correlation_id text, p_causation_id text,
    p_command_id text, p_occurred_at timestamptz,
    p_event_ids uuid[], p_originator_ids uuid[], p_versions bigint[], p_aggregate_types text[],
    p_event_types text[], p_topics text[], p_data text[]
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    INSERT INTO events (event_id, originator_id, originator_version, aggregate_type, event_type,
                        topic, data, org_id, actor, source, workflow_id, workflow_run_id,
                        workflow_type, activity_id, correlation_id, causation_id, command_id,
                        occurred_at)
    SELECT u.event_id, u.originator_id, u.originator_version, u.aggregate_type, u.event_type,
           u.topic, u.data::jsonb, p_org_id, p_actor, p_source, p_workflow_id,
           p_workflow_run_id, p_workflow_type, p_activity_id, p_correlation_id, p_causation_id,
           p_command_id, p_occurred_at
    FROM unnest(p_event_ids, p_originator_ids, p_versions, p_aggregate_types, p_event_types,
                p_topics, p_data)
         AS u(event_id, originator_id, originator_version, aggregate_type, event_type, topic,
              data)
    RETURNING position;
END;
$$;

COMMENT ON FUNCTION events_append IS
    'Appends one command''s events in one statement, without a table lock (0009)';

-- -- 2. the safe head --------------------------------------------------------------------------

CREATE FUNCTION events_appenders() RETURNS SETOF text
LANGUAGE sql VOLATILE AS $$
    SELECT l.virtualtransaction
    FROM pg_locks l
    WHERE l.locktype = 'advisory'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = 1652126821 AND l.objid = 1634758757 AND l.objsubid = 1
      AND l.granted
$$;

COMMENT ON FUNCTION events_appenders() IS
    'Virtual transaction ids of the transactions inserting into events right now (0009)';

-- Two statements, in this order, on purpose: the sequence first, the appenders after it.
CREATE FUNCTION events_watermark(OUT last_position bigint, OUT appenders text[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    last_position := coalesce(pg_sequence_last_value('events_position_seq'::regclass), 0);
    appenders := ARRAY(SELECT events_appenders());
END;
$$;

COMMENT ON FUNCTION events_watermark() IS
    'The last drawn position, then the appenders in flight: that position is safe once they end';

-- For one-off readers (no memory of earlier observations): waits up to `max_wait` for the
-- appenders seen to end, and answers NULL if one is still running then (a transaction held
-- open around an insert): the caller must then not read past what it already knew was safe.
CREATE FUNCTION events_safe_head(max_wait interval DEFAULT interval '5 seconds')
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    w record;
    deadline timestamptz := clock_timestamp() + max_wait;
BEGIN
    SELECT * INTO w FROM events_watermark();
    WHILE cardinality(w.appenders) > 0 LOOP
        IF NOT EXISTS (SELECT 1 FROM events_appenders() AS a(vxid)
                       WHERE a.vxid = ANY (w.appenders)) THEN
            EXIT;
        END IF;
        IF clock_timestamp() >= deadline THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    RETURN w.last_position;
END;
$$;

COMMENT ON FUNCTION events_safe_head(interval) IS
    'A position at or below which every event that will ever exist is visible (NULL: try again)';

-- -- 3. the hash chain, sealed after commit ----------------------------------------------------

CREATE TABLE event_chain (
    position    bigint PRIMARY KEY,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);

COMMENT ON TABLE event_chain IS
    'Hash chain over events by position, sealed after commit by projections/chain.py (0009)';
COMMENT ON COLUMN event_chain.hash IS
    'sha256(prev_hash || event_digest_input(event)); prev_hash is the hash of the row before';

CREATE TRIGGER event_chain_immutable_rows
    BEFORE UPDATE OR DELETE ON event_chain
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER event_chain_immutable_table
    BEFORE TRUNCATE ON event_chain
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

INSERT INTO event_chain (position, prev_hash, hash)
SELECT position, prev_hash, hash
FROM events
WHERE prev_hash IS NOT NULL AND hash IS NOT NULL
ORDER BY position;

CREATE OR REPLACE VIEW audit.events AS
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
    encode(c.prev_hash, 'hex') AS prev_hash,
    encode(c.hash, 'hex') AS hash
FROM events e
LEFT JOIN event_chain c ON c.position = e.position;

COMMENT ON VIEW audit.events IS
    'Every recorded event, in position order by `position`; its chain hashes in hex once sealed';

ALTER TABLE events DROP COLUMN prev_hash, DROP COLUMN hash;
