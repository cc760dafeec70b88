"""Realistic events written straight into ``events``, for the rebuild benchmark: a contact (3
events), a task (2) and an execution that runs one step (5) per unit, spread over ten orgs,
generated in SQL so that a million take seconds. One INSERT, with a NOTIFY in the same
transaction, as an append: the insert trigger of migration 0009 marks it in flight for followers
like any other.
"""

from __future__ import annotations

import psycopg

# Ten events per unit: a contact (3), a task (2) and an execution that runs one step (5),
# spread over ten orgs. Realistic in shape and mix, generated in SQL so 100,000 take seconds.
_SYNTHETIC = """
INSERT INTO events (event_id, originator_id, originator_version, aggregate_type, event_type,
                    topic, data, org_id, occurred_at)
SELECT gen_random_uuid(), md5(%(seed)s || k.agg || i)::uuid, k.ver, k.atype, k.etype,
       'domain.x:' || k.etype,
       CASE k.etype
         WHEN 'Contact.Created' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'first_name', 'First' || i, 'last_name', 'Last' || i,
           'email', 'person' || i || '@example.com', 'phone', NULL, 'status', 'lead',
           'fields', jsonb_build_object('source', 'web', 'score', i %% 100))
         WHEN 'Contact.FieldsUpdated' THEN jsonb_build_object('changes', jsonb_build_object(
           'phone', jsonb_build_object('old', NULL, 'new', '+1555' || i)))
         WHEN 'Contact.StatusChanged' THEN
           jsonb_build_object('old_status', 'lead', 'new_status', 'active')
         WHEN 'Task.Assigned' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'title', 'Review ' || i, 'description', NULL,
           'assigned_to', 'role:admin', 'priority', 'medium',
           'due_date', '2024-06-01T00:00:00+00:00', 'execution_id', md5(%(seed)s || 'e' || i)::uuid,
           'step_id', 'step_2', 'contact_id', md5(%(seed)s || 'c' || i)::uuid,
           'metadata', '{}'::jsonb, 'status', 'todo')
         WHEN 'Task.StatusChanged' THEN jsonb_build_object(
           'old_status', 'todo', 'new_status', 'done',
           'metadata', jsonb_build_object('outcome', 'approved'),
           'completed_at', '2024-05-02T00:00:00+00:00')
         WHEN 'WorkflowExecution.Created' THEN jsonb_build_object(
           'org_id', 'org_' || i %% 10, 'definition_id', md5(%(seed)s || 'd')::uuid,
           'definition_version', 1, 'contact_id', md5(%(seed)s || 'c' || i)::uuid,
           'input', jsonb_build_object('payload', jsonb_build_object('n', i)),
           'workflow_id', 'execution-' || i, 'trigger', jsonb_build_object('type', 'webhook'))
         WHEN 'WorkflowExecution.Started' THEN jsonb_build_object('workflow_run_id', 'run-' || i)
         WHEN 'WorkflowExecution.StepStarted' THEN jsonb_build_object(
           'step_id', 'step_2', 'step_type', 'assign_task', 'step_name', 'Review')
         WHEN 'WorkflowExecution.StepCompleted' THEN jsonb_build_object(
           'step_id', 'step_2', 'output', jsonb_build_object('task_id', 'x'))
         ELSE jsonb_build_object('output', '{}'::jsonb)
       END || jsonb_build_object('timestamp', '2024-05-01T00:00:00+00:00'),
       'org_' || i %% 10,
       timestamptz '2024-05-01 00:00:00+00' + i * interval '1 second' + k.ord * interval '1 ms'
FROM generate_series(1, %(units)s) AS i,
     (VALUES (1, 'c', 1, 'contact', 'Contact.Created'),
             (2, 'e', 1, 'workflow_execution', 'WorkflowExecution.Created'),
             (3, 'e', 2, 'workflow_execution', 'WorkflowExecution.Started'),
             (4, 'e', 3, 'workflow_execution', 'WorkflowExecution.StepStarted'),
             (5, 't', 1, 'task', 'Task.Assigned'),
             (6, 'c', 2, 'contact', 'Contact.FieldsUpdated'),
             (7, 't', 2, 'task', 'Task.StatusChanged'),
             (8, 'e', 4, 'workflow_execution', 'WorkflowExecution.StepCompleted'),
             (9, 'c', 3, 'contact', 'Contact.StatusChanged'),
             (10, 'e', 5, 'workflow_execution', 'WorkflowExecution.Completed'))
       AS k(ord, agg, ver, atype, etype)
ORDER BY i, k.ord
"""


def append_synthetic(database_url: str, units: int, *, seed: str = "s") -> int:
    """Append `units` * 10 realistic events (see _SYNTHETIC); return how many."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("NOTIFY events")
        conn.execute(_SYNTHETIC, {"units": units, "seed": seed})
    return units * 10
