-- One append = one statement: take the EXCLUSIVE lock, insert, notify, all inside the server.
--
-- Writers still serialise on the table lock (so positions commit in order and followers never
-- skip a row that commits late), but the lock is now held only while the server inserts and
-- commits. Before, the client took the lock in a pipelined transaction and held it across its
-- own round trips (sync, then COMMIT): a worker process busy with other threads held the lock
-- while it waited for the GIL, and every other writer waited for it (measured with 20
-- onboardings in flight: 8.4 backends waiting on Lock:relation on average, 155-320 ms per
-- recording activity of which 2-5 ms CPU). Called in autocommit mode, so the statement's own
-- transaction commits as it returns; a duplicate event or version raises unique_violation
-- as before.

CREATE FUNCTION events_append(
    p_org_id text, p_actor text, p_source text, p_workflow_id text, p_workflow_run_id text,
    p_workflow_type text, p_activity_id text, p_correlation_id text, p_causation_id text,
    p_command_id text, p_occurred_at timestamptz,
    p_event_ids uuid[], p_originator_ids uuid[], p_versions bigint[], p_aggregate_types text[],
    p_event_types text[], p_topics text[], p_data text[]
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE events IN EXCLUSIVE MODE;
    PERFORM pg_notify('events', '');
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
    'Appends one command''s events in one statement under the EXCLUSIVE table lock, and notifies followers.';
