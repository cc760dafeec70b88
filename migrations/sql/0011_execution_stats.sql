-- The execution_stats read model (projections/stats.py): what a definition's statistics are
-- computed from (GET /api/v1/definitions/{id}/stats, projections/queries/stats.py).
--
-- Durations are stored per execution and per step run, and percentiles are taken at query time
-- (percentile_cont), so any version and creation-time range can be asked for. The indexes lead
-- with (org_id, definition_id, definition_version) and end with the creation time, so a
-- definition's rows for one version and range are one index range scan; they INCLUDE what the
-- statistics read, so that scan never visits the table.

CREATE TABLE execution_stats (
    id                  uuid PRIMARY KEY,
    org_id              text        NOT NULL,
    definition_id       text,
    definition_version  integer,
    -- Whatever status the events carry: pending | running | waiting | completed | failed |
    -- cancelled | timed_out, and any status a newer event sets.
    status              text        NOT NULL,
    -- Where it waits now (NULL unless status is waiting).
    current_step_id     text,
    waiting_for         text,
    waiting_since       timestamptz,
    -- Step runs so far: the number of the latest one in execution_step_stats.
    step_runs           integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    -- Set while the status is an ended one; duration_ms = ended_at - (started_at or created_at).
    ended_at            timestamptz,
    duration_ms         double precision,
    updated_at          timestamptz NOT NULL,
    version             integer     NOT NULL
);

CREATE INDEX execution_stats_definition_idx
    ON execution_stats (org_id, definition_id, definition_version, created_at)
    INCLUDE (status, duration_ms);
-- "Where executions wait now": only the waiting ones, few at any time.
CREATE INDEX execution_stats_waiting_idx
    ON execution_stats (org_id, definition_id, definition_version, current_step_id)
    INCLUDE (waiting_for, waiting_since, created_at)
    WHERE status = 'waiting';

-- One row per step run, numbered per execution in start order.
CREATE TABLE execution_step_stats (
    execution_id          uuid        NOT NULL,
    run                   integer     NOT NULL,
    org_id                text        NOT NULL,
    definition_id         text,
    definition_version    integer,
    -- The execution's creation time: the stats' since/until select executions by it.
    execution_created_at  timestamptz NOT NULL,
    step_id               text        NOT NULL,
    step_type             text,
    step_name             text,
    -- running | waiting | completed | failed, or the execution's status when it ended with
    -- the step still open (cancelled, ...; a timeout counts as failed).
    status                text        NOT NULL,
    started_at            timestamptz NOT NULL,
    -- The kind of its wait (task | signal | delay | reminder) and when the wait began.
    waiting_for           text,
    waiting_since         timestamptz,
    ended_at              timestamptz,
    -- Set when it ends: total = wait (the human part, NULL if it never waited) + work.
    total_ms              double precision,
    wait_ms               double precision,
    work_ms               double precision,
    PRIMARY KEY (execution_id, run)
);

CREATE INDEX execution_step_stats_definition_idx
    ON execution_step_stats (org_id, definition_id, definition_version, execution_created_at)
    INCLUDE (step_id, step_type, step_name, status, run, total_ms, wait_ms, work_ms);
-- The projector loads the open runs of the executions a batch touches.
CREATE INDEX execution_step_stats_open_idx
    ON execution_step_stats (execution_id) WHERE ended_at IS NULL;

COMMENT ON TABLE execution_stats IS
    'Read model (projection execution_stats): one row per execution, for definition statistics.';
COMMENT ON TABLE execution_step_stats IS
    'Read model (projection execution_stats): one row per step run, with its wait and work time.';
