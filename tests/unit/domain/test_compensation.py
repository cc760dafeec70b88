"""Saga compensation in the domain: `compensate` at definition time, and the execution's
compensation states."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.definition_model import Definition
from domain.definition_validation import parse_definition, validate_definition
from domain.errors import InvalidTransitionError
from domain.execution import WorkflowExecution

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TRIGGER = {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}}


def _body(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Saga", "steps": [TRIGGER, *steps]}


def _task(step_id: str, **extra: Any) -> dict[str, Any]:
    config = {"title": "Review", "assign_to": "role:hr"}
    return {
        "id": step_id,
        "type": "assign_task",
        "name": step_id.title(),
        "config": config,
        **extra,
    }


def _problems(body: dict[str, Any]) -> dict[str, str]:
    return {p.field: p.message for p in validate_definition(body)}


def test_a_compensation_gets_an_id_and_a_name_and_survives_a_round_trip() -> None:
    undo_one = {"type": "update_task", "config": {"task_from_step": "a", "updates": {"title": "x"}}}
    undo_two = {"id": "tell", "type": "update_status", "name": "Say so", "config": {"status": "x"}}
    definition = parse_definition(
        _body(_task("a", compensate=undo_one), _task("b", compensate=[undo_one, undo_two]))
    )

    a, b = definition.steps[1], definition.steps[2]
    assert [(c.id, c.name) for c in a.compensate] == [("a-undo", "Undo A")]
    assert [(c.id, c.name) for c in b.compensate] == [("b-undo", "Undo B"), ("tell", "Say so")]
    assert Definition.from_dict(definition.to_dict()) == definition
    assert definition.compensation("tell").type == "update_status"
    # Bodies without compensation keep their exact stored shape.
    assert "compensate" not in parse_definition(_body(_task("c"))).to_dict()["steps"][1]


def test_a_compensation_may_use_its_owner_and_earlier_steps_but_not_later_ones() -> None:
    owner_task = {"task_from_step": "a", "updates": {"title": "Undo {{a.task.title}}"}}
    later = {"task_from_step": "b", "updates": {"title": "{{b.task.id}}"}}
    fine = _body(_task("a", compensate={"type": "update_task", "config": owner_task}), _task("b"))
    wrong = _body(_task("a", compensate={"type": "update_task", "config": later}), _task("b"))

    assert validate_definition(fine) == []
    problems = _problems(wrong)
    assert set(problems) == {
        "steps[1].compensate.config.task_from_step",
        "steps[1].compensate.config.updates.title",
    }
    assert "runs after" in problems["steps[1].compensate.config.updates.title"]


def test_every_problem_of_every_compensation_is_named_at_once() -> None:
    body = _body(
        _task(
            "a",
            compensate=[
                {"type": "http_request", "config": {"method": "POST", "url": "ftp://x"}},
                {"type": "delay", "config": {"seconds": 5}},
                {"id": "end", "type": "update_status", "config": {"status": "x"}},
                {"type": "nope", "config": {}},
                {"type": "update_status", "name": " ", "config": []},
                "undo",
            ],
        ),
        _task("a-undo"),
    )
    body["steps"][0] = {**TRIGGER, "compensate": []}

    problems = _problems(body)

    assert set(problems) == {
        "steps[0].compensate",
        "steps[1].compensate[0].id",  # its default id a-undo is another step's
        "steps[1].compensate[0].config.url",
        "steps[1].compensate[1].type",
        "steps[1].compensate[2].id",
        "steps[1].compensate[3].type",
        "steps[1].compensate[4].name",
        "steps[1].compensate[4].config",
        "steps[1].compensate[5]",
    }
    assert "cannot compensate" in problems["steps[1].compensate[1].type"]
    assert all(p.step_id == "a" for p in validate_definition(body) if "[1]" in p.field[:8])


def test_an_empty_or_malformed_compensate_is_refused() -> None:
    assert set(_problems(_body(_task("a", compensate=[])))) == {"steps[1].compensate"}
    assert set(_problems(_body(_task("a", compensate="undo")))) == {"steps[1].compensate"}


def _compensating() -> WorkflowExecution:
    execution = WorkflowExecution.create(
        execution_id=uuid.uuid4(),
        org_id="org",
        definition_id="d",
        definition_version=1,
        contact_id=None,
        input={},
        workflow_id="w",
        trigger={},
        at=AT,
    )
    execution.start(workflow_run_id="r", at=AT)
    execution.start_step(step_id="a", step_type="assign_task", step_name="A", at=AT)
    execution.complete_step(step_id="a", output={}, at=AT)
    execution.start_step(step_id="b", step_type="http_request", step_name="B", at=AT)
    execution.begin_compensation(
        cause="failed", step_id="b", reason="HTTP 500", cancelled_by=None, at=AT
    )
    return execution


def test_the_execution_stays_compensating_while_its_undo_steps_run_then_ends() -> None:
    execution = _compensating()
    execution.start_compensation_step(
        step_id="a-undo", step_type="update_status", step_name="Undo A", compensation_of="a", at=AT
    )
    execution.complete_step(step_id="a-undo", output={}, at=AT)
    assert execution.status == "compensating"

    execution.end_compensation(failures=[], at=AT)

    assert (execution.status, execution.is_terminal, execution.error) == (
        "compensated",
        True,
        "HTTP 500",
    )
    history = {entry["step_id"]: entry for entry in execution.step_history}
    assert history["b"]["status"] == "failed"
    assert history["a-undo"]["compensation_of"] == "a"


def test_a_failed_undo_ends_compensation_failed_naming_it() -> None:
    execution = _compensating()
    failure = {"step_id": "a-undo", "compensation_of": "a", "error": "HTTP 503"}

    execution.end_compensation(failures=[failure], at=AT)

    assert execution.status == "compensation_failed"
    assert execution.error == "HTTP 500; compensation failed (a-undo: HTTP 503)"


def test_compensation_steps_need_a_compensating_execution_and_begin_once() -> None:
    execution = _compensating()
    with pytest.raises(InvalidTransitionError):
        execution.begin_compensation(
            cause="failed", step_id=None, reason="again", cancelled_by=None, at=AT
        )
    execution.end_compensation(failures=[], at=AT)
    with pytest.raises(InvalidTransitionError):
        execution.start_compensation_step(
            step_id="late", step_type="update_status", step_name="L", compensation_of="a", at=AT
        )
