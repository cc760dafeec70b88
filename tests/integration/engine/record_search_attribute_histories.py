"""Records the history of an execution that keeps its search attributes current (patch
`search-attributes`) into tests/histories/, for test_replay.py.

    .venv/bin/python -m tests.integration.engine.record_search_attribute_histories

It starts its own Temporal dev server (with the product's attributes registered) and database
and starts the execution as `POST /executions` does (worker/starts.py, attributes set at the
start): the trigger creates the contact (ContactId), a task is assigned and waited for
(BytedashStatus `waiting`), the `migrate` update moves it to version 2 (DefinitionVersion), the
task is completed and it ends `completed`. Record again only for a deliberate change, behind
``workflow.patched``, beside the old files.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from tests.integration.engine.support import META, change_task, definition, step, until
from tests.support.recording import recording_stack
from worker.contracts import (
    MIGRATE_UPDATE,
    SEARCH_CONTACT_ID,
    SEARCH_DEFINITION_VERSION,
    SEARCH_STATUS,
    ExecutionResult,
    MigrationAnswer,
    MigrationRequest,
)
from worker.main import build_worker
from worker.starts import Origin, execution_input, start_execution

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
TRIGGER = {"type": "form_submission", "contact": {"first_name": "{{payload.first_name}}"}}


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    async with (
        recording_stack() as stack,
        build_worker(stack.client, stack.services, stack.queue),
    ):
        client, queue = stack.client, stack.queue
        review = step("review", "assign_task", title="Review", assign_to="role:a")
        version_1 = definition(
            review, step("wait", "wait_for_task", task_from_step="review"), trigger=TRIGGER
        )
        version_2 = definition(
            review,
            step("await_review", "wait_for_task", task_from_step="review"),
            step("done_v2", "update_status", status="v2"),
            statuses=["v2"],
            trigger=TRIGGER,
        )
        execution = execution_input(
            meta=META,
            execution_id=str(uuid.uuid4()),
            definition_id=str(uuid.uuid4()),
            definition_version=1,
            definition=version_1,
            trigger={"type": "form_submission"},
            payload={"first_name": "Ada"},
        )
        started = await start_execution(client, queue, execution, Origin("api"))
        handle = client.get_workflow_handle(started.workflow_id, result_type=ExecutionResult)
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
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(SEARCH_STATUS) == "completed", attributes
        assert attributes.get(SEARCH_DEFINITION_VERSION) == 2, attributes
        assert attributes.get(SEARCH_CONTACT_ID), attributes
        history = await handle.fetch_history()
        (HISTORIES / "execution_indexed.json").write_text(history.to_json())
        upserts = sum(
            1
            for e in history.events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
        )
        print("recorded execution_indexed", len(history.events), "events,", upserts, "upserts")


if __name__ == "__main__":
    asyncio.run(main())
