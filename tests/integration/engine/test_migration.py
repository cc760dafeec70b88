"""The `migrate` update on the Temporal dev server: what a moved wait keeps (a delay its
deadline, a signal wait the signals already queued), that the new version survives
continue-as-new, and that an execution not at a safe point says so and keeps its version."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.integration.engine.servers import Endpoint
from tests.integration.engine.support import (
    META,
    Handle,
    definition,
    event_types,
    snapshot,
    start,
    step,
    until,
)
from worker.contracts import (
    MIGRATE_UPDATE,
    NAMED_SIGNAL,
    MigrationAnswer,
    MigrationRequest,
    NamedSignal,
)


async def _move(handle: Handle, body: dict[str, Any], **mapping: str) -> MigrationAnswer:
    answer: MigrationAnswer = await handle.execute_update(
        MIGRATE_UPDATE,
        MigrationRequest(meta=META, definition_version=2, definition=body, step_mapping=mapping),
        result_type=MigrationAnswer,
    )
    return answer


@pytest.mark.parametrize(
    "history_limit",
    [
        # A run's first step sees 3 events; by the move there are many more.
        pytest.param(4, id="continue-as-new due at the move"),
        pytest.param(None, id="continue-as-new due after the moved step starts"),
    ],
)
async def test_a_moved_delay_keeps_its_deadline_and_the_new_version_outlives_continue_as_new(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_db: str,
    history_limit: int | None,
) -> None:
    version_1 = definition(
        step("pause", "delay", seconds=3),
        step("done", "update_status", status="v1"),
        statuses=["v1"],
    )
    version_2 = definition(
        step("pause_v2", "delay", seconds=600),
        step("mark", "update_status", status="v2"),
        step("again", "update_status", status="v2_again"),
        statuses=["v2", "v2_again"],
    )
    # How long the history is when the execution waits: the real one continues as new just
    # after its move. Due at the move itself, the run must still start the moved step first:
    # the carried deadline lives in that run only (CI once saw the new run wait ten minutes).
    _, probe = await start(temporal_env.client, engine_queue, version_1)
    await until(probe, lambda s: s.status == "waiting")
    waited_at = (await probe.describe()).raw_description.workflow_execution_info.history_length
    await probe.result()

    execution_id, handle = await start(
        temporal_env.client,
        engine_queue,
        version_1,
        history_limit=history_limit or waited_at + 4,
    )
    waiting = await until(handle, lambda s: s.status == "waiting")
    assert waiting.waiting is not None and waiting.waiting.until is not None
    deadline: datetime = waiting.waiting.until
    began = time.monotonic()

    answer = await _move(handle, version_2, pause="pause_v2")

    assert (answer.moved, answer.from_step, answer.to_step) == (True, "pause", "pause_v2")
    assert (answer.from_version, answer.definition_version) == (1, 2)
    result = await handle.result()
    assert time.monotonic() - began < 30  # the old deadline, not the new step's ten minutes
    assert (result.status, result.ui_status) == ("completed", "v2_again")
    state = await snapshot(handle)
    assert state.runs >= 2  # continued as new after the move, on version 2
    assert datetime.fromisoformat(state.outputs["pause_v2"]["until"]) == deadline
    kinds = event_types(engine_db, execution_id)
    moved_at = kinds.index("Migrated(pause)")
    assert kinds[moved_at + 1 : moved_at + 3] == ["StepStarted(pause_v2)", "Waiting(pause_v2)"]
    assert "StepCompleted(pause)" not in kinds  # the old step left, it did not complete


async def test_a_moved_signal_wait_takes_queued_signals_and_a_busy_execution_does_not_move(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str, endpoint: Endpoint
) -> None:
    version_1 = definition(
        step("go", "wait_for_signal", signal="go"),
        step("later", "wait_for_signal", signal="later"),
        step("done", "update_status", status="v1"),
        statuses=["v1"],
    )
    version_2 = definition(
        step("proceed", "wait_for_signal", signal="proceed"),
        step("later", "wait_for_signal", signal="later"),
        step("done", "update_status", status="v2"),
        statuses=["v2"],
    )
    _, handle = await start(temporal_env.client, engine_queue, version_1)
    await until(handle, lambda s: s.status == "waiting" and s.current_step_id == "go")
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="proceed", payload={"n": 1}))

    # No mapping for `go`, and version 2 has no step `go`: it stays where it is.
    refused = await _move(handle, version_2)
    assert not refused.moved and "'go' has no mapping" in (refused.reason or "")
    answer = await _move(handle, version_2, go="proceed")

    assert answer.moved
    # The queued `proceed` signal wakes the new step at once; `later` keeps its id.
    state = await until(handle, lambda s: s.status == "waiting" and s.current_step_id == "later")
    assert state.outputs["proceed"]["payload"] == {"n": 1}
    again = await _move(handle, version_2)
    assert not again.moved and again.reason == "it already runs version 2."
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="later"))
    result = await handle.result()
    assert (result.status, result.ui_status) == ("completed", "v2")

    # Parked for an admin, not waiting: not a safe point, and it keeps its version.
    push = step("push", "http_request", method="POST", url=f"{endpoint.url}/status/400")
    push["on_failure"] = "park"
    _, parked = await start(temporal_env.client, engine_queue, definition(push))
    await until(parked, lambda s: s.status == "needs_attention")
    busy = await _move(parked, version_2, push="proceed")
    assert not busy.moved and busy.reason is not None
    assert busy.reason.startswith("not at a safe point: it is needs_attention")
    await parked.cancel()
