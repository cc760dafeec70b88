"""The hand-written baseline of ``python -m bench.compare``: applicant onboarding as one Temporal
workflow written for that process alone, its steps plain SQL on tables of its own. The service
around it (its HTTP API and its worker process) is bench/e2e/handwritten.py.

It does what the interpreter does for APPLICANT_ONBOARDING (domain/definition_library.py) on
the approved path, call for call: begin (contact, execution, trigger step), mark in review,
assign the review task, record the wait, wait for the task-done signal, record the wait's end,
record the condition, mark approved, send the welcome email, finish. Recording calls are local
activities (or regular ones, with ``local=False``) as the interpreter's recording calls are;
the email is a regular activity, as the interpreter's ``send_email`` step is. The reviewer's
"done" goes through a second small workflow (one regular activity, then a signal to the
execution), as TaskCommandWorkflow does it.

Calls carry plain dicts, not models: this module is re-imported by the workflow sandbox for
every run, and a hand-written workflow should not pay for building pydantic classes each time
(the interpreter keeps its models in passed-through modules for the same reason).

Every write is idempotent the plain way (``ON CONFLICT DO NOTHING`` on a key the workflow
chooses), so a retried activity writes nothing twice. There is no event store, no aggregate and
no projection: the rows written are the read model. That is the floor the interpreter is
compared with.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool

BASELINE_WORKFLOW = "HandWrittenOnboarding"
BASELINE_REVIEW_WORKFLOW = "HandWrittenReview"
TASK_DONE_SIGNAL = "task_done"

RECORD_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS hw_contacts (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    first_name text,
    last_name text,
    email text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS hw_executions (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    definition_id text NOT NULL,
    workflow_id text NOT NULL,
    contact_id uuid,
    status text NOT NULL,
    ui_status text,
    current_step text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE TABLE IF NOT EXISTS hw_steps (
    execution_id uuid NOT NULL,
    key text NOT NULL,
    step_id text NOT NULL,
    status text NOT NULL,
    output jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, key)
);
CREATE TABLE IF NOT EXISTS hw_tasks (
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    execution_id uuid NOT NULL,
    step_id text NOT NULL,
    title text NOT NULL,
    assigned_to text NOT NULL,
    priority text NOT NULL,
    status text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    due_date timestamptz,
    completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS hw_tasks_open_idx ON hw_tasks (seq) WHERE status = 'todo';
CREATE TABLE IF NOT EXISTS hw_emails (
    id uuid PRIMARY KEY,
    execution_id uuid NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    delivered boolean NOT NULL
);
"""


def baseline_workflow_id(execution_id: str) -> str:
    return f"hw-execution-{execution_id}"


# -- activities --------------------------------------------------------------------------------

Call = dict[str, Any]


class BaselineActivities:
    """Plain psycopg on a pool, one transaction per call; ``def`` methods on the worker's thread
    pool, as the interpreter's activities are."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @activity.defn(name="hw_begin")
    def begin(self, call: Call) -> str:
        """The contact, the execution and its trigger step; answers the contact id."""
        workflow_id = activity.info().workflow_id
        contact_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{workflow_id}/contact")
        payload = call["payload"]
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO hw_contacts (id, org_id, first_name, last_name, email)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    contact_id,
                    call["org_id"],
                    payload.get("first_name"),
                    payload.get("last_name"),
                    payload.get("email"),
                ),
            )
            conn.execute(
                "INSERT INTO hw_executions (id, org_id, definition_id, workflow_id, contact_id,"
                " status, current_step) VALUES (%s, %s, %s, %s, %s, 'running', 'step_1')"
                " ON CONFLICT DO NOTHING",
                (
                    call["execution_id"],
                    call["org_id"],
                    call["definition_id"],
                    workflow_id,
                    contact_id,
                ),
            )
            conn.execute(
                "INSERT INTO hw_steps (execution_id, key, step_id, status, output)"
                " VALUES (%s, 'begin', 'step_1', 'completed', %s) ON CONFLICT DO NOTHING",
                (call["execution_id"], Jsonb({"type": "form_submission", "payload": payload})),
            )
        return str(contact_id)

    @activity.defn(name="hw_record")
    def record(self, call: Call) -> None:
        """One step row, and the execution's current step (status, ui_status when given)."""
        status = call.get("execution_status")
        with self._pool.connection() as conn:
            inserted = conn.execute(
                "INSERT INTO hw_steps (execution_id, key, step_id, status, output)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    call["execution_id"],
                    call["key"],
                    call["step_id"],
                    call.get("status", "completed"),
                    Jsonb(call.get("output", {})),
                ),
            ).rowcount
            if inserted:
                conn.execute(
                    "UPDATE hw_executions SET current_step = %s, status = coalesce(%s, status),"
                    " ui_status = coalesce(%s, ui_status), updated_at = now(),"
                    " completed_at = CASE WHEN %s = 'completed' THEN now() END WHERE id = %s",
                    (call["step_id"], status, call.get("ui_status"), status, call["execution_id"]),
                )

    @activity.defn(name="hw_assign_task")
    def assign_task(self, call: Call) -> str:
        """The review task and its step row; answers the task id."""
        task_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{activity.info().workflow_id}/{call['key']}")
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO hw_tasks (id, org_id, execution_id, step_id, title, assigned_to,"
                " priority, status, due_date) VALUES (%s, %s, %s, %s, %s, %s, %s, 'todo',"
                " now() + make_interval(days => %s)) ON CONFLICT DO NOTHING",
                (
                    task_id,
                    call["org_id"],
                    call["execution_id"],
                    call["step_id"],
                    call["title"],
                    call["assigned_to"],
                    call["priority"],
                    call["due_in_days"],
                ),
            )
            conn.execute(
                "INSERT INTO hw_steps (execution_id, key, step_id, status, output)"
                " VALUES (%s, %s, %s, 'completed', %s) ON CONFLICT DO NOTHING",
                (
                    call["execution_id"],
                    call["key"],
                    call["step_id"],
                    Jsonb({"task": {"id": str(task_id), "title": call["title"]}}),
                ),
            )
            conn.execute(
                "UPDATE hw_executions SET current_step = %s, updated_at = now() WHERE id = %s",
                (call["step_id"], call["execution_id"]),
            )
        return str(task_id)

    @activity.defn(name="hw_send_email")
    def send_email(self, call: Call) -> Call:
        """No SMTP here either: recorded as not delivered, as the interpreter records it
        without SMTP_URL."""
        key = f"{activity.info().workflow_id}/{call['key']}"
        output = {"to": [call["to"]], "subject": call["subject"], "delivered": False}
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO hw_emails (id, execution_id, recipient, subject, delivered)"
                " VALUES (%s, %s, %s, %s, false) ON CONFLICT DO NOTHING",
                (
                    uuid.uuid5(uuid.NAMESPACE_URL, key),
                    call["execution_id"],
                    call["to"],
                    call["subject"],
                ),
            )
            conn.execute(
                "INSERT INTO hw_steps (execution_id, key, step_id, status, output)"
                " VALUES (%s, %s, %s, 'completed', %s) ON CONFLICT DO NOTHING",
                (call["execution_id"], call["key"], call["step_id"], Jsonb(output)),
            )
        return output

    @activity.defn(name="hw_complete_task")
    def complete_task(self, call: Call) -> str:
        """The reviewer's PATCH: the task done with its outcome; answers its execution id."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "UPDATE hw_tasks SET status = 'done', completed_at = coalesce(completed_at, now()),"
                " metadata = metadata || %s WHERE id = %s RETURNING execution_id",
                (Jsonb({"outcome": call["outcome"]}), call["task_id"]),
            ).fetchone()
        if row is None:
            raise LookupError(f"task {call['task_id']} not found")
        return str(row[0])

    def all(self) -> list[Any]:
        return [self.begin, self.record, self.assign_task, self.send_email, self.complete_task]


# -- workflows ---------------------------------------------------------------------------------


@workflow.defn(name=BASELINE_WORKFLOW)
class HandWrittenOnboarding:
    """Input: ``{org_id, execution_id, definition_id, payload, local}``."""

    def __init__(self) -> None:
        self._task: Call | None = None
        self._local = True

    @workflow.signal(name=TASK_DONE_SIGNAL)
    def task_done(self, change: Call) -> None:
        self._task = change

    async def _record(self, name: str, call: Call) -> Any:
        if self._local:
            return await workflow.execute_local_activity(
                name, call, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=RETRY
            )
        return await workflow.execute_activity(
            name, call, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=RETRY
        )

    @workflow.run
    async def run(self, order: Call) -> Call:
        self._local = bool(order.get("local", True))
        eid = order["execution_id"]
        payload = order["payload"]
        first_name = payload.get("first_name")
        await self._record("hw_begin", order)
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "2-status",
                "step_id": "step_2",
                "ui_status": "in_review",
                "output": {"ui_status": "in_review"},
            },
        )
        task_id = await self._record(
            "hw_assign_task",
            {
                "org_id": order["org_id"],
                "execution_id": eid,
                "key": "3-assign",
                "step_id": "step_3",
                "title": f"Review {first_name}'s Application",
                "assigned_to": "role:admin",
                "priority": "medium",
                "due_in_days": 3,
            },
        )
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "4-wait",
                "step_id": "step_4",
                "status": "waiting",
                "execution_status": "waiting",
                "output": {"task_id": task_id},
            },
        )
        await workflow.wait_condition(
            lambda: self._task is not None and self._task.get("task_id") == task_id,
            timeout=timedelta(days=7),
        )
        assert self._task is not None
        outcome = (self._task.get("metadata") or {}).get("outcome")
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "4-done",
                "step_id": "step_4",
                "execution_status": "running",
                "output": {"task": {"id": task_id, "status": self._task.get("status")}},
            },
        )
        approved = outcome == "approved"
        branch = "step_6" if approved else "step_8"
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "5-condition",
                "step_id": "step_5",
                "output": {"value": outcome, "branch": branch},
            },
        )
        ui_status = "approved" if approved else "rejected"
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "6-status",
                "step_id": branch,
                "ui_status": ui_status,
                "output": {"ui_status": ui_status},
            },
        )
        await workflow.execute_activity(
            "hw_send_email",
            {
                "execution_id": eid,
                "key": "7-email",
                "step_id": "step_7" if approved else "step_9",
                "to": str(payload.get("email")),
                "subject": f"Welcome aboard, {first_name}!" if approved else "Your application",
            },
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
        await self._record(
            "hw_record",
            {
                "execution_id": eid,
                "key": "finish",
                "step_id": "end",
                "execution_status": "completed",
                "output": {"ui_status": ui_status},
            },
        )
        return {"execution_id": eid, "status": "completed", "ui_status": ui_status}


@workflow.defn(name=BASELINE_REVIEW_WORKFLOW)
class HandWrittenReview:
    """The reviewer's "done" (input ``{task_id, outcome}``): one regular activity, then a
    signal to the execution, as TaskCommandWorkflow does it."""

    @workflow.run
    async def run(self, review: Call) -> None:
        execution_id = await workflow.execute_activity(
            "hw_complete_task",
            review,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RETRY,
        )
        handle = workflow.get_external_workflow_handle(baseline_workflow_id(str(execution_id)))
        await handle.signal(
            TASK_DONE_SIGNAL,
            {
                "task_id": review["task_id"],
                "status": "done",
                "metadata": {"outcome": review["outcome"]},
            },
        )


BASELINE_WORKFLOWS = [HandWrittenOnboarding, HandWrittenReview]
