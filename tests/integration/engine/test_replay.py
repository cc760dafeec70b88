"""Recorded histories replay through today's workflow code: a change that would break running
executions (non-determinism) fails here first. The histories come from record_histories.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from worker.main import WORKFLOWS
from worker.workflows import engine

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


async def _each(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


def _histories() -> list[WorkflowHistory]:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, f"no recorded histories in {HISTORIES}"
    return [WorkflowHistory.from_json(path.stem, path.read_text()) for path in files]


async def test_every_recorded_history_replays() -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    histories = _histories()

    replayed: dict[str, str | None] = {}
    async with replayer.workflow_replay_iterator(_each(histories)) as results:
        async for result in results:
            failure = result.replay_failure
            replayed[result.history.workflow_id] = None if failure is None else str(failure)

    assert replayed == {history.workflow_id: None for history in histories}


async def test_a_change_to_the_commands_a_history_recorded_fails_the_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording steps as regular activities instead of local ones is exactly the kind of
    change that needs workflow.patched; without it, replay must fail. (Unsandboxed, so that
    the patched module attribute is the one the workflow reads.)"""
    onboarding = [h for h in _histories() if h.workflow_id == "execution_onboarding_approved"]
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(onboarding[0])  # unchanged code: replays

    monkeypatch.setattr(engine, "RECORD_AS_LOCAL", False)

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(onboarding[0])


async def test_histories_from_before_batching_need_its_patch_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording steps with the next call changes the commands of an onboarding (6 activity
    calls instead of 9): an old history replays only because the engine asks
    workflow.patched first. Forced on regardless, the old history no longer replays, while
    the one recorded with batching does."""
    by_name = {h.workflow_id: h for h in _histories()}
    old = by_name["execution_onboarding_approved"]
    new = by_name["execution_onboarding_approved_batched"]
    assert _activity_calls(old) == 9
    assert _activity_calls(new) == 6
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(new)

    monkeypatch.setattr(engine.Engine, "batching", property(lambda self: True))

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(old)


def _activity_calls(history: WorkflowHistory) -> int:
    """Local activities (markers) and regular ones (scheduled) in a history."""
    calls = 0
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            calls += event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        calls += event.HasField("activity_task_scheduled_event_attributes")
    return calls
