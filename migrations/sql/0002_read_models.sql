-- Read models: denormalised tables filled only by the projector (projections/), read by the API.
--
-- Every row carries org_id and every list index leads with it, because every read is scoped to
-- one org. Lists page newest first by keyset (created_at DESC, id DESC): the indexes end with
-- (created_at, id) so that a page is an index range scan (read backwards), never a sort.
-- Ids of other aggregates that events carry as text (execution_id, contact_id, definition_id)
-- stay text: the domain accepts any non-blank id there, and a projection must never fail on one.
--
-- The admin rebuild copies these tables with CREATE TABLE x__rebuild (LIKE x INCLUDING ALL),
-- so everything a table needs (defaults, checks, indexes) is declared on the table itself.

-- Where each projection is in the event stream. One row per projection, updated in the same
-- transaction as the rows a batch wrote: that is what makes projecting exactly once.
CREATE TABLE projection_tracking (
    name            text PRIMARY KEY,
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- 'running' | 'error'; admin tooling will add states such as 'parked' and 'rebuilding'.
    state           text        NOT NULL DEFAULT 'running',
    last_error      text,
    last_error_at   timestamptz,
    -- Consecutive failed attempts since the last successful batch (0 when healthy): what a later
    -- "retry, then park" policy counts.
    error_count     integer     NOT NULL DEFAULT 0
);

COMMENT ON TABLE projection_tracking IS
    'Position of each projection in the events table, committed with the rows it projected.';

CREATE TABLE contacts (
    id              uuid PRIMARY KEY,
    org_id          text        NOT NULL,
    first_name      text,
    last_name       text,
    email           text,
    phone           text,
    status          text        NOT NULL,
    fields          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    archived        boolean     NOT NULL DEFAULT false,
    archived_reason text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL
);

CREATE INDEX contacts_org_created_idx ON contacts (org_id, created_at, id);
CREATE INDEX contacts_org_status_created_idx ON contacts (org_id, status, created_at, id);

CREATE TABLE tasks (
    id              uuid PRIMARY KEY,
    org_id          text        NOT NULL,
    title           text        NOT NULL,
    description     text,
    assigned_to     text        NOT NULL,
    priority        text        NOT NULL,
    status          text        NOT NULL,
    due_date        timestamptz,
    execution_id    text,
    step_id         text,
    contact_id      text,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL
);

CREATE INDEX tasks_org_created_idx ON tasks (org_id, created_at, id);
CREATE INDEX tasks_org_status_created_idx ON tasks (org_id, status, created_at, id);
-- Also serves "my tasks": assigned_to = ANY('{user:u1, role:admin}').
CREATE INDEX tasks_org_assignee_created_idx ON tasks (org_id, assigned_to, created_at, id);
CREATE INDEX tasks_org_execution_created_idx ON tasks (org_id, execution_id, created_at, id)
    WHERE execution_id IS NOT NULL;
CREATE INDEX tasks_org_contact_created_idx ON tasks (org_id, contact_id, created_at, id)
    WHERE contact_id IS NOT NULL;

CREATE TABLE executions (
    id                  uuid PRIMARY KEY,
    org_id              text        NOT NULL,
    definition_id       text        NOT NULL,
    definition_version  integer,
    contact_id          text,
    workflow_id         text,
    workflow_run_id     text,
    -- pending | running | waiting | completed | failed | cancelled | timed_out
    status              text        NOT NULL,
    ui_status           text,
    current_step_id     text,
    input               jsonb,
    output              jsonb,
    -- Why it ended, when not by completing: the failure, the timeout or the cancellation reason.
    error               text,
    cancelled_by        text,
    trigger             jsonb,
    -- The step timeline: one entry per step run, in the order the steps ran.
    steps               jsonb       NOT NULL DEFAULT '[]'::jsonb,
    started_at          timestamptz,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             integer     NOT NULL
);

CREATE INDEX executions_org_created_idx ON executions (org_id, created_at, id);
CREATE INDEX executions_org_status_created_idx ON executions (org_id, status, created_at, id);
CREATE INDEX executions_org_definition_created_idx
    ON executions (org_id, definition_id, created_at, id);
CREATE INDEX executions_org_contact_created_idx ON executions (org_id, contact_id, created_at, id)
    WHERE contact_id IS NOT NULL;
CREATE INDEX executions_workflow_idx ON executions (workflow_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE definitions (
    id              uuid PRIMARY KEY,
    org_id          text        NOT NULL,
    -- Name and description of the latest published version (NULL until one is published).
    name            text,
    description     text,
    current_version integer,
    is_active       boolean     NOT NULL DEFAULT false,
    active_version  integer,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL
);

CREATE INDEX definitions_org_created_idx ON definitions (org_id, created_at, id);
CREATE INDEX definitions_org_active_created_idx ON definitions (org_id, is_active, created_at, id);

-- Every published version's body, immutable once written: running executions keep theirs.
CREATE TABLE definition_versions (
    definition_id   uuid        NOT NULL,
    version         integer     NOT NULL,
    org_id          text        NOT NULL,
    name            text        NOT NULL,
    description     text,
    statuses        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    steps           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    trigger         jsonb,
    published_at    timestamptz NOT NULL,
    PRIMARY KEY (definition_id, version)
);

-- Contact search (`q`: case-insensitive substring of the name or the email) is served by a
-- trigram index when the server has pg_trgm (stock Postgres does; the embedded pgserver build
-- does not). Without it the search still works, as a scan of one org's contacts.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not installed (insufficient privilege); contact search scans';
            RETURN;
        END;
        -- The expression must match projections/queries/contacts.py (SEARCH_EXPRESSION).
        CREATE INDEX contacts_search_trgm_idx ON contacts USING gin (
            (coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' '
             || coalesce(email, '')) gin_trgm_ops
        );
    END IF;
END
$$;
