-- The record-trigger follower's own view of definitions (interfaces/triggers.py): which active
-- definitions start on contact events. Kept from the same ordered event stream as the contact
-- events it matches them with, so it is never behind or ahead of them.
CREATE TABLE trigger_definitions (
    definition_id uuid PRIMARY KEY,
    org_id        text    NOT NULL,
    version       integer,
    is_active     boolean NOT NULL DEFAULT false,
    trigger_type  text,
    trigger       jsonb   NOT NULL DEFAULT '{}'::jsonb,
    body          jsonb   NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX trigger_definitions_active_idx
    ON trigger_definitions (org_id, trigger_type) WHERE is_active;
