"""Records real workflow histories into tests/histories/ for the replay test (test_replay.py).

Run it when the workflows change ON PURPOSE in a way that old histories cannot replay (after
guarding the change with ``workflow.patched``, keep the old files and add new ones; replace
old files only once no execution that started under the old code can still be running):

    .venv/bin/python -m tests.integration.engine.record_histories [SUFFIX]

SUFFIX (say `_v2`) is added to every file name, so that new recordings sit beside the old ones.
`--only-failures` records only the histories of `record_failures` (added with that patch).

It starts its own Temporal dev server, database, SMTP server and HTTP endpoint, runs a few
executions that between them use every step type, a cancel, a timeout, continue-as-new and the
task command that signals an execution, and saves each workflow's history as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from application.delivery.outbound import ALLOW_LOOPBACK
from domain.definition_validation import parse_definition
from tests.integration.engine.servers import http_endpoint, smtp_server
from tests.integration.engine.support import (
    META,
    definition,
    snapshot,
    start,
    step,
    waiting_at,
)
from tests.integration.engine.test_onboarding import ONBOARDING
from tests.support.recording import recording_stack
from worker.contracts import (
    CANCEL_SIGNAL,
    NAMED_SIGNAL,
    TASK_COMMAND_WORKFLOW,
    CancelRequest,
    CommandResult,
    NamedSignal,
    TaskCommand,
)
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
ONLY_FAILURES = "--only-failures"
_ARGS = [a for a in sys.argv[1:] if a != ONLY_FAILURES] if __name__ == "__main__" else []
SUFFIX = _ARGS[0] if _ARGS else ""


async def _save(
    client: Client, handle: WorkflowHandle[Any, Any], name: str, run_id: str | None = None
) -> None:
    """The history of the handle's latest run, or of `run_id`."""
    history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
    (HISTORIES / f"{name}{SUFFIX}.json").write_text(history.to_json())
    print("recorded", name, len(history.events), "events")


async def _task_command(client: Client, queue: str, task_id: str, **changes: Any) -> str:
    workflow_id = f"task-update-{uuid.uuid4()}"
    await client.execute_workflow(
        TASK_COMMAND_WORKFLOW,
        TaskCommand(meta=META, action="update", task_id=task_id, changes=changes),
        id=workflow_id,
        task_queue=queue,
        result_type=CommandResult,
    )
    return workflow_id


async def record(client: Client, queue: str, endpoint_url: str) -> None:
    # 1. The README's applicant onboarding, approved through the task command path.
    _, onboarding = await start(
        client,
        queue,
        parse_definition(ONBOARDING).to_dict(),
        payload={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        contact_from_trigger=True,
    )
    state = await waiting_at(onboarding, "step_3")
    command = await _task_command(
        client, queue, state.tasks[0].task_id, status="done", metadata={"outcome": "approved"}
    )
    await onboarding.result()
    await _save(client, onboarding, "execution_onboarding_approved")
    await _save(client, client.get_workflow_handle(command), "task_command_signals_execution")
    late = await _task_command(client, queue, state.tasks[0].task_id, status="todo")
    await _save(client, client.get_workflow_handle(late), "task_command_execution_finished")

    # 2. The other step types.
    everything = definition(
        step("assign", "assign_task", title="T {{contact.first_name}}", assign_to="role:a"),
        step("urgent", "update_task", task_from_step="assign", updates={"priority": "high"}),
        step("due", "set_due_date", task_from_step="assign", due_date="{{now + 2 days}}"),
        step("mark", "update_contact", fields={"fields.n": 1}),
        step("nudge", "reminder", task_from_step="assign", delay_minutes=0.01, message="Hi"),
        step("pause", "delay", seconds=1),
        step("sig", "wait_for_signal", signal="go"),
        step("call", "http_request", method="POST", url=f"{endpoint_url}/ok", body={"a": 1}),
        step(
            "check",
            "condition",
            field="{{call.status}}",
            branches=[{"if": 200, "then_goto": "close"}],
            default="end",
        ),
        step("close", "complete_task", task_from_step="assign", outcome="approved"),
        step("wait", "wait_for_task", task_from_step="assign"),
        step(
            "nosig", "wait_for_signal", signal="never", timeout_hours=0.0003, on_timeout="continue"
        ),
        step("mail", "send_email", to="a@example.com", subject="S", body="B"),
    )
    _, every = await start(client, queue, everything)
    await every.signal(NAMED_SIGNAL, NamedSignal(name="go", payload={"x": 1}))
    await every.result()
    await _save(client, every, "execution_every_step_type")

    # 3. Cancelled while waiting: by the `cancel` signal (with a reason), and by Temporal.
    waiting = definition(
        step("assign", "assign_task", title="T", assign_to="role:a"),
        step("wait", "wait_for_task", task_from_step="assign"),
    )
    _, by_signal = await start(client, queue, waiting)
    await waiting_at(by_signal, "wait")
    await by_signal.signal(CANCEL_SIGNAL, CancelRequest(reason="withdrawn", actor="user:1"))
    await by_signal.result()
    await _save(client, by_signal, "execution_cancelled_by_signal")
    _, by_temporal = await start(client, queue, waiting)
    await waiting_at(by_temporal, "wait")
    await by_temporal.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await by_temporal.result()
    await _save(client, by_temporal, "execution_cancelled_by_temporal")

    # 4. A template that cannot resolve, and a timeout that ends the execution.
    _, failing = await start(
        client,
        queue,
        definition(step("t", "assign_task", title="{{input.nope}}", assign_to="role:a")),
    )
    await failing.result()
    await _save(client, failing, "execution_failed_template")
    _, timing = await start(
        client, queue, definition(step("w", "wait_for_signal", signal="x", timeout_hours=0.0003))
    )
    await timing.result()
    await _save(client, timing, "execution_timed_out")

    # 5. A loop long enough to continue as new twice.
    loop = definition(
        step("tick", "wait_for_signal", signal="tick"),
        step(
            "check",
            "condition",
            field="{{tick.payload.more}}",
            branches=[{"if": True, "then_goto": "count"}],
            default="end",
        ),
        step("count", "update_contact", fields={"fields.n": "{{tick.payload.n}}"}, next_="tick"),
    )
    _, looping = await start(client, queue, loop, history_limit=40)
    for n in range(12):
        await looping.signal(NAMED_SIGNAL, NamedSignal(name="tick", payload={"more": True, "n": n}))
        await waiting_at(looping, "tick")
    await looping.signal(NAMED_SIGNAL, NamedSignal(name="tick", payload={"more": False}))
    await looping.result()
    assert (await snapshot(looping)).runs >= 3
    first_run = (await looping.describe()).raw_info.first_run_id or None
    await _save(client, looping, "execution_loop_first_run", run_id=first_run)
    await _save(client, looping, "execution_loop_last_run")

    await record_failures(client, queue)


async def record_failures(client: Client, queue: str) -> None:
    """Recordings that fail for good (`record-failure-ends-execution`): data that cannot be
    stored at the begin and at the finish, and a step the domain refuses."""
    simple = definition(step("review", "assign_task", title="Review", assign_to="role:hr"))
    _, unstorable = await start(client, queue, simple, payload={"note": "a\x00b"})
    await unstorable.result()
    await _save(client, unstorable, "execution_record_failure_begin")

    hearing = definition(step("hear", "wait_for_signal", signal="go"))
    _, heard = await start(client, queue, hearing)
    await waiting_at(heard, "hear")
    await heard.signal(NAMED_SIGNAL, NamedSignal(name="go", payload={"note": "a\x00b"}))
    await heard.result()
    await _save(client, heard, "execution_record_failure_finish")

    refused = definition(step("mark", "update_contact", fields={"email": "not-an-email"}))
    _, refusing = await start(client, queue, refused)
    await refusing.result()
    await _save(client, refusing, "execution_refused_step")


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    async with recording_stack() as stack:
        with smtp_server() as (smtp_url, _), http_endpoint() as endpoint:
            worker = build_worker(
                stack.client,
                stack.services,
                stack.queue,
                smtp_url=smtp_url,
                outbound=ALLOW_LOOPBACK,
            )
            async with worker:
                if ONLY_FAILURES in sys.argv[1:]:
                    await asyncio.wait_for(record_failures(stack.client, stack.queue), 120)
                else:
                    await asyncio.wait_for(record(stack.client, stack.queue, endpoint.url), 120)


if __name__ == "__main__":
    asyncio.run(main())
