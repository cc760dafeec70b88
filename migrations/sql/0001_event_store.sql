-- The event store: one table, one global position sequence, immutable rows.
--
-- Written through the eventsourcing library (application/store/recorder.py), which serialises
-- writers with an EXCLUSIVE table lock so that positions commit in order: a follower reading
-- "position > N" never skips a row that commits later with a lower position.

CREATE TABLE events (
    position            bigint GENERATED ALWAYS AS IDENTITY,
    event_id            uuid        NOT NULL,
    originator_id       uuid        NOT NULL,
    originator_version  bigint      NOT NULL,
    aggregate_type      text        NOT NULL,
    event_type          text        NOT NULL,
    topic               text        NOT NULL,
    data                jsonb       NOT NULL,
    org_id              text        NOT NULL,
    actor               text,
    source              text,
    workflow_id         text,
    workflow_run_id     text,
    workflow_type       text,
    activity_id         text,
    correlation_id      text,
    causation_id        text,
    command_id          text,
    occurred_at         timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (originator_id, originator_version)
);

CREATE UNIQUE INDEX events_position_idx ON events (position);
CREATE UNIQUE INDEX events_event_id_idx ON events (event_id);
CREATE INDEX events_org_position_idx ON events (org_id, position);
CREATE INDEX events_type_position_idx ON events (event_type, position);
CREATE INDEX events_aggregate_type_position_idx ON events (aggregate_type, position);
CREATE INDEX events_workflow_idx ON events (workflow_id, position) WHERE workflow_id IS NOT NULL;
CREATE INDEX events_run_idx ON events (workflow_run_id, position) WHERE workflow_run_id IS NOT NULL;
CREATE INDEX events_correlation_idx ON events (correlation_id, position)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX events_actor_idx ON events (actor, position) WHERE actor IS NOT NULL;
CREATE INDEX events_command_idx ON events (command_id) WHERE command_id IS NOT NULL;
CREATE INDEX events_occurred_at_brin ON events USING brin (occurred_at);

-- Immutability: the database itself refuses to change or remove recorded events.
CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on the events table is refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_immutable_rows
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_immutable_table
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

COMMENT ON TABLE events IS
    'Immutable domain events of every aggregate, in one global order (position).';
