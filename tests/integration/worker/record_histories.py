"""Records histories of the command and schedule workflows into tests/histories/ for the replay
test (tests/integration/engine/test_replay.py replays every file there).

    .venv/bin/python -m tests.integration.worker.record_histories [PREFIX [--action-shapes]]

Every file name starts with PREFIX (default ``commands``). Run it from a checkout of older code
too (copy this file in, and pass ``--action-shapes``: such code knows only the ``action`` +
``changes`` commands) to record what workflows started before a change look like; the
``pre_intents_*`` files are such recordings, made with the code before per-intent commands and
before scheduled firings started their execution through an activity.

It starts its own Temporal dev server and database.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from tests.support.recording import recording_stack
from worker.contracts import (
    DEFINITION_COMMAND_WORKFLOW,
    SCHEDULED_EXECUTION_WORKFLOW,
    TASK_COMMAND_WORKFLOW,
    CommandMeta,
    CommandResult,
    DefinitionCommand,
    ScheduledRun,
    TaskCommand,
)
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
PREFIX = sys.argv[1] if __name__ == "__main__" and len(sys.argv) > 1 else "commands"
ACTION_SHAPES = __name__ == "__main__" and "--action-shapes" in sys.argv[2:]
META = CommandMeta(org_id="org_record", actor="user:recorder")

SCHEDULED: dict[str, Any] = {
    "name": "Weekly digest",
    "statuses": [{"id": "sent", "label": "Sent"}],
    "steps": [
        {
            "id": "every_monday",
            "type": "trigger",
            "name": "Every Monday 09:00",
            "config": {"type": "schedule", "cron": "0 9 * * 1"},
        },
        {"id": "done", "type": "update_status", "name": "Sent", "config": {"status": "sent"}},
    ],
}


def _definition(action: str, definition_id: str, body: dict[str, Any] | None = None) -> BaseModel:
    if ACTION_SHAPES:
        return DefinitionCommand(meta=META, action=action, definition_id=definition_id, body=body)
    from worker import commands  # not in code older than per-intent commands

    if action == "create":
        return commands.CreateDefinition(meta=META, definition_id=definition_id, body=body or {})
    return commands.ActivateDefinition(meta=META, definition_id=definition_id)


def _tasks(task_id: str) -> list[BaseModel]:
    if ACTION_SHAPES:
        return [
            TaskCommand(
                meta=META,
                action="assign",
                task_id=task_id,
                changes={"title": "Call Ada", "assigned_to": "role:hr"},
            ),
            TaskCommand(meta=META, action="update", task_id=task_id, changes={"status": "done"}),
        ]
    from worker import commands

    return [
        commands.AssignTask(meta=META, task_id=task_id, title="Call Ada", assigned_to="role:hr"),
        commands.task_patch(META, task_id, {"title": "Call Ada back", "due_date": None}),
        commands.CompleteTask(meta=META, task_id=task_id, metadata={"outcome": "reached"}),
    ]


async def _save(client: Client, workflow_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{PREFIX}_{name}.json").write_text(history.to_json())
    print("recorded", f"{PREFIX}_{name}", len(history.events), "events")


async def _run(client: Client, queue: str, workflow: str, command: BaseModel) -> str:
    workflow_id = f"{workflow}-{uuid.uuid4()}"
    await client.execute_workflow(
        workflow, command, id=workflow_id, task_queue=queue, result_type=CommandResult
    )
    return workflow_id


async def record(client: Client, queue: str) -> None:
    task_id = str(uuid.uuid4())
    for n, command in enumerate(_tasks(task_id)):
        await _save(client, await _run(client, queue, TASK_COMMAND_WORKFLOW, command), f"task_{n}")

    definition_id = str(uuid.uuid4())
    await _run(
        client, queue, DEFINITION_COMMAND_WORKFLOW, _definition("create", definition_id, SCHEDULED)
    )
    activated = await _run(
        client, queue, DEFINITION_COMMAND_WORKFLOW, _definition("activate", definition_id)
    )
    await _save(client, activated, "definition_activated")

    # The replay test names each history's workflow after its file, and the firing's id is what
    # older code derived the execution id from in the workflow itself: give both the same name.
    firing = f"{PREFIX}_scheduled_run"
    await client.execute_workflow(
        SCHEDULED_EXECUTION_WORKFLOW,
        ScheduledRun(org_id=META.org_id, definition_id=definition_id),
        id=firing,
        task_queue=queue,
    )
    await _save(client, firing, "scheduled_run")
    # The schedule is a real one: leave nothing behind on the dev server.
    await client.get_schedule_handle(f"definition-schedule-{definition_id}").delete()


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    async with recording_stack() as stack, build_worker(stack.client, stack.services, stack.queue):
        await asyncio.wait_for(record(stack.client, stack.queue), 120)


if __name__ == "__main__":
    asyncio.run(main())
