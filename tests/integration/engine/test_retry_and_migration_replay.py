"""The recorded retried run and moved execution (record_retry_histories.py,
record_migration_histories.py) replay through today's code, and only because the code asks
their patches: under another patch name (as if the feature had been added without its guard)
they do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from worker.main import WORKFLOWS
from worker.workflows import engine

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


def _history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())


@pytest.mark.parametrize(
    ("name", "patch"),
    [("execution_retried", "RETRY_PATCH"), ("execution_migrated", "MIGRATION_PATCH")],
)
async def test_the_recorded_history_replays_and_depends_on_its_patch(
    name: str, patch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _history(name)
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(history)

    monkeypatch.setattr(engine, patch, "some-other-change")

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
