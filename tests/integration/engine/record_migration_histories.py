"""Records the history of an execution moved to another version of its definition (patch
`execution-migration`) into tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_migration_histories

Like record_saga_histories.py it starts its own Temporal dev server and database and runs the
execution on the real worker: version 1 assigns a task and waits for it; the `migrate` update
(as POST /definitions/{id}/migrations sends it) moves the execution to version 2, whose wait
step has another id; the task is completed and version 2's later steps run. Record again only
for a deliberate change, behind ``workflow.patched``, beside the old files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.engine.support import META, change_task, definition, start, step, until
from tests.support.recording import recording_stack
from worker.contracts import MIGRATE_UPDATE, MigrationAnswer, MigrationRequest
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    async with (
        recording_stack() as stack,
        build_worker(stack.client, stack.services, stack.queue),
    ):
        client, queue = stack.client, stack.queue
        review = step("review", "assign_task", title="Review", assign_to="role:a")
        version_1 = definition(
            review,
            step("wait", "wait_for_task", task_from_step="review"),
            step("done", "update_status", status="v1"),
            statuses=["v1"],
        )
        version_2 = definition(
            review,
            step("await_review", "wait_for_task", task_from_step="review"),
            step("done_v2", "update_status", status="v2"),
            statuses=["v2"],
        )
        _, handle = await start(client, queue, version_1)
        state = await until(handle, lambda s: s.status == "waiting")
        answer = await handle.execute_update(
            MIGRATE_UPDATE,
            MigrationRequest(
                meta=META,
                definition_version=2,
                definition=version_2,
                step_mapping={"wait": "await_review"},
            ),
            result_type=MigrationAnswer,
        )
        assert answer.moved, answer
        await until(handle, lambda s: s.status == "waiting" and s.current_step_id == "await_review")
        await change_task(client, queue, state.tasks[0].task_id, status="done")
        result = await handle.result()
        assert result.status == "completed" and result.ui_status == "v2", result
        history = await client.get_workflow_handle(handle.id).fetch_history()
        (HISTORIES / "execution_migrated.json").write_text(history.to_json())
        print("recorded execution_migrated", len(history.events), "events")


if __name__ == "__main__":
    asyncio.run(main())
