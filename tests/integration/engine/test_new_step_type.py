"""A step type that is not built in runs like one: its two modules (set_variable/config.py and
set_variable/runner.py) plus the registry line below, and nothing else anywhere.

The definition validator accepts it and reports its problems like any other type's, the engine
renders its templates, parses its config and runs it on the real worker, the execution records
it on its timeline, and later steps read its output.
"""

from __future__ import annotations

from uuid import UUID

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.metadata import CommandContext
from domain.definition_validation import parse_definition
from domain.errors import DefinitionInvalidError
from domain.steps import STEP_TYPES, register
from tests.integration.engine.set_variable import config as set_variable
from tests.integration.engine.support import definition, event_types, start, step
from tests.unit.domain.test_step_configs import BUILT_IN
from worker.activities.execution import ExecutionActivities
from worker.step_calls import EngineActivities
from worker.workflows.steps import RUNNERS

register(set_variable.TYPE)  # the registry line

CTX = CommandContext(org_id="org_e", command_id="reader")


def test_every_built_in_type_has_its_runner_and_every_activity_is_registered(
    engine_services: Services,
) -> None:
    assert set(BUILT_IN) <= set(RUNNERS)
    names = [fn.__name__ for fn in ExecutionActivities(engine_services).all()]
    # Every activity the workflow may call (EngineActivities declares them), by name: a
    # count here would have to change with every new activity.
    assert sorted(names) == sorted(EngineActivities.__abstractmethods__)
    assert {"assign_task_step", "record_step", "finish_execution"} <= set(names)


def test_a_definition_may_use_the_new_type_and_gets_its_problems_reported() -> None:
    assert "set_variable" in STEP_TYPES
    with pytest.raises(DefinitionInvalidError) as refused:
        parse_definition(
            {
                "name": "Bad",
                "steps": [
                    {"id": "start", "type": "trigger", "name": "Go", "config": {"type": "manual"}},
                    {"id": "keep", "type": "set_variable", "name": "Keep", "config": {}},
                ],
            }
        )
    problems = {(p.field, p.step_id): p.message for p in refused.value.problems}
    assert problems == {
        ("steps[1].config.name", "keep"): "A set_variable step needs 'name'.",
        ("steps[1].config.value", "keep"): "A set_variable step needs 'value' (null is a value).",
    }


async def test_the_new_type_runs_and_later_steps_read_its_output(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    body = definition(
        step("score", "set_variable", name="score", value="{{payload.score}}"),
        step(
            "route",
            "condition",
            field="{{score.value}}",
            branches=[{"if": 7, "then_goto": "review"}],
            default="end",
        ),
        step("review", "assign_task", title="Score {{score.value}}", assign_to="role:hr"),
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"score": 7}
    )

    result = await handle.result()

    assert result.status == "completed", result.error
    execution = engine_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.step_outputs["score"] == {"name": "score", "value": 7}
    assert execution.step_outputs["route"]["branch"] == "review"
    assert execution.step_outputs["review"]["task"]["title"] == "Score 7"
    started = [e for e in event_types(engine_db, execution_id) if e.startswith("Step")]
    assert started == [
        "StepStarted(start)",
        "StepCompleted(start)",
        "StepStarted(score)",
        "StepCompleted(score)",
        "StepStarted(route)",
        "StepCompleted(route)",
        "StepStarted(review)",
        "StepCompleted(review)",
    ]
