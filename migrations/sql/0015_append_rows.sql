-- The append in its cheaper form (application/store/recorder.py): a save's events travel as one
-- JSON array of rows, [event_id, originator_id, version, aggregate_type, event_type, topic,
-- data], instead of seven arrays, and a new contact's key as [contact_id, base64 of the wrapped
-- key]. Each array parameter cost the writer's driver a type inspection and an escaping pass of
-- its own (about 55 µs of client CPU per append for the rows, 27 µs for the keys, measured);
-- the event's data is already JSON and goes into the document as it is.
--
-- A new contact's data key travels with the append of its first events (application/store/
-- personal.py): one statement and one commit where there were two. The writer made and wrapped
-- the key (as application/privacy/keys.py makes every key) and sealed the events' personal data
-- with it already, so it must be the contact's only key: when a key row exists for one of the
-- contacts (a concurrent first save of the same contact, a rerun of the command whose first run
-- stored the key, a contact erased before its first save), nothing is appended and the function
-- returns no rows; the writer then reads the stored key, seals the events again with it and
-- appends them. The keys inserted before that finding stay: each is a contact's key like any
-- other, and the writer uses the stored one.
--
-- events_append (0009) stays, unchanged, for SQL callers.

CREATE FUNCTION events_append_rows(
    p_org_id text, p_actor text, p_source text, p_workflow_id text, p_workflow_run_id text,
    p_workflow_type text, p_activity_id text, p_correlation_id text, p_causation_id text,
    p_command_id text, p_occurred_at timestamptz, p_rows text,
    p_keys text DEFAULT NULL, p_key_master_id text DEFAULT NULL
) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb := p_keys::jsonb;
    made bigint;
BEGIN
    -- p_keys: [[contact_id, base64 of the wrapped key], ...], JSON like the rows.
    IF jsonb_array_length(keys) > 0 THEN
        INSERT INTO contact_keys (org_id, contact_id, wrapped_key, master_key_id)
        SELECT p_org_id, (k.e->>0)::uuid, decode(k.e->>1, 'base64'), p_key_master_id
        FROM jsonb_array_elements(keys) AS k(e)
        ON CONFLICT (contact_id) DO NOTHING;
        GET DIAGNOSTICS made = ROW_COUNT;
        IF made < jsonb_array_length(keys) THEN
            RETURN;
        END IF;
    END IF;
    RETURN QUERY
    INSERT INTO events (event_id, originator_id, originator_version, aggregate_type, event_type,
                        topic, data, org_id, actor, source, workflow_id, workflow_run_id,
                        workflow_type, activity_id, correlation_id, causation_id, command_id,
                        occurred_at)
    SELECT (r.e->>0)::uuid, (r.e->>1)::uuid, (r.e->>2)::bigint, r.e->>3, r.e->>4, r.e->>5,
           r.e->6, p_org_id, p_actor, p_source, p_workflow_id, p_workflow_run_id,
           p_workflow_type, p_activity_id, p_correlation_id, p_causation_id, p_command_id,
           p_occurred_at
    FROM jsonb_array_elements(p_rows::jsonb) WITH ORDINALITY AS r(e, n)
    ORDER BY r.n
    RETURNING position;
END;
$$;

COMMENT ON FUNCTION events_append_rows IS
    'Appends one save''s events (a JSON array of rows) with the new contact keys they are sealed under; no rows: a key existed (0015)';
