-- Admin replay tooling (projections/admin): rebuild bookkeeping and parked events.
--
-- A rebuild fills `<table>__rebuild` copies tracked in projection_tracking as `<name>__rebuild`,
-- then swaps them in. Everything it needs to resume after an interruption lives in those copies,
-- that tracking row and the open row below; nothing is kept in process memory.

-- One row per rebuild (or reset to a position, which is a rebuild that stops there). The open
-- row of a projection (finished_at IS NULL) is the one a new `rebuild` resumes; `done` rows stay
-- as the history of who rebuilt what and when.
CREATE TABLE projection_rebuilds (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The live projection being rebuilt (not the __rebuild tracking name).
    name                text        NOT NULL,
    kind                text        NOT NULL DEFAULT 'rebuild' CHECK (kind IN ('rebuild', 'reset')),
    phase               text        NOT NULL DEFAULT 'building'
        CHECK (phase IN ('building', 'catching_up', 'swapping', 'done', 'failed')),
    requested_by        text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    -- A reset builds up to here and no further; NULL builds up to the head.
    stop_position       bigint,
    -- Where the build is heading: the head when it started (moves up while catching up).
    target_position     bigint      NOT NULL DEFAULT 0,
    rebuilt_position    bigint      NOT NULL DEFAULT 0,
    events_applied      bigint      NOT NULL DEFAULT 0,
    -- Positions passed per second in the current run, and the estimate derived from it.
    rate                double precision,
    eta_seconds         double precision,
    -- 1, plus one per resume after an interruption.
    runs                integer     NOT NULL DEFAULT 1,
    error               text
);

CREATE INDEX projection_rebuilds_name_idx ON projection_rebuilds (name, id DESC);
-- At most one unfinished rebuild per projection: that is the one a later run resumes.
CREATE UNIQUE INDEX projection_rebuilds_open_idx ON projection_rebuilds (name)
    WHERE finished_at IS NULL;

COMMENT ON TABLE projection_rebuilds IS
    'Rebuilds and resets of projections: phase, progress, who asked; the open row is resumable.';

-- Events a projection could not apply after its retries. The projection moved past them (the
-- events before and after were applied normally); they stay here, visible in the status, until
-- an admin retries them (status retried) or skips them with a reason (status skipped).
-- Rebuilds and resets honour skips: a skipped event is never applied by any later build.
CREATE TABLE projection_parked_events (
    projection          text        NOT NULL,
    position            bigint      NOT NULL,
    event_id            uuid        NOT NULL,
    event_type          text        NOT NULL,
    originator_id       uuid        NOT NULL,
    originator_version  bigint      NOT NULL,
    error               text        NOT NULL,
    attempts            integer     NOT NULL,
    parked_at           timestamptz NOT NULL DEFAULT now(),
    status              text        NOT NULL DEFAULT 'parked'
        CHECK (status IN ('parked', 'retried', 'skipped')),
    resolved_by         text,
    resolved_at         timestamptz,
    -- Why it was skipped, or how it came to be applied (retry, rebuild).
    resolution          text,
    PRIMARY KEY (projection, position)
);

CREATE INDEX projection_parked_events_open_idx ON projection_parked_events (projection, position)
    WHERE status = 'parked';

COMMENT ON TABLE projection_parked_events IS
    'Poison events: retried, then parked per projection and surfaced in status; never skipped silently.';
