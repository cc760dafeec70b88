-- Idempotency lookups (`command_outcome`, `command_position`) filter by command_id and order or
-- aggregate by position. With only (command_id) indexed, the planner could pick a backwards scan
-- of the position index for an unseen command id and filter the whole store (measured: 23 ms on
-- 20k events, appends falling from ~440/s to ~50/s). (command_id, position) answers both at once.
CREATE INDEX events_command_position_idx ON events (command_id, position)
    WHERE command_id IS NOT NULL;
DROP INDEX events_command_idx;
