"""Per-step error policy in the domain: `retry` and `on_failure` at definition time, and a
parked step on the execution."""

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


def _call(step_id: str, **policy: Any) -> dict[str, Any]:
    config = {"method": "POST", "url": "https://example.com/hook"}
    return {"id": step_id, "type": "http_request", "name": step_id, "config": config, **policy}


def _problems(*steps: dict[str, Any]) -> dict[str, str]:
    body = {"name": "Policy", "steps": [TRIGGER, *steps]}
    return {p.field: p.message for p in validate_definition(body)}


def test_retry_and_on_failure_are_kept_in_the_normalised_body() -> None:
    retry = {"attempts": 5, "backoff_seconds": 2, "backoff_coefficient": 3}
    definition = parse_definition(
        {
            "name": "Policy",
            "steps": [
                TRIGGER,
                _call("a", retry=retry, on_failure="park"),
                _call("b", on_failure="continue"),
                _call("c", on_failure="a"),
                _call("d", on_failure="end"),
            ],
        }
    )

    a = definition.step("a")
    assert (a.retry, a.on_failure) == (retry, "park")
    assert [s.on_failure for s in definition.steps[2:]] == ["continue", "a", "end"]
    assert Definition.from_dict(definition.to_dict()) == definition
    plain = parse_definition({"name": "P", "steps": [TRIGGER, _call("x")]}).to_dict()["steps"][1]
    assert "retry" not in plain and "on_failure" not in plain


def test_every_retry_problem_is_named_at_once() -> None:
    problems = _problems(
        _call("a", retry={"attempts": 21, "backoff_coefficient": 0.5, "max_backoff_seconds": -1}),
        _call("b", retry={"attempts": True, "backoff_seconds": 10, "max_backoff_seconds": 5}),
        _call("c", retry=3),
        {
            "id": "d",
            "type": "assign_task",
            "name": "d",
            "config": {"title": "t", "assign_to": "role:a"},
            "retry": {"attempts": 2},
        },
        {**_call("e", retry={"attempts": 2}), "config": {"url": "https://x", "retries": 1}},
    )

    assert set(problems) == {
        "steps[1].retry.attempts",
        "steps[1].retry.backoff_coefficient",
        "steps[1].retry.max_backoff_seconds",
        "steps[2].retry.attempts",
        "steps[2].retry.max_backoff_seconds",
        "steps[3].retry",
        "steps[4].retry",
        "steps[5].retry",
        "steps[5].config.method",
    }
    assert "from 1 to 20" in problems["steps[1].retry.attempts"]
    assert "less than" in problems["steps[2].retry.max_backoff_seconds"]
    assert "not both" in problems["steps[5].retry"]


def test_on_failure_must_be_a_word_or_a_step_that_is_not_the_trigger_or_itself() -> None:
    problems = _problems(
        _call("a", on_failure="nowhere"),
        _call("b", on_failure="start"),
        _call("c", on_failure="c"),
        _call("d", on_failure=5),
    )

    assert set(problems) == {f"steps[{i}].on_failure" for i in (1, 2, 3, 4)}
    assert _problems(_call("e", on_failure="park"), _call("f", on_failure="e")) == {}


def test_a_compensation_may_set_retry_but_not_on_failure() -> None:
    undo = {"type": "http_request", "config": {"method": "DELETE", "url": "https://x/1"}}
    fine = _call("a", compensate={**undo, "retry": {"attempts": 4}})
    wrong = _call("b", compensate={**undo, "on_failure": "continue"})

    assert _problems(fine) == {}
    assert set(_problems(wrong)) == {"steps[1].compensate.on_failure"}
    compensation = parse_definition({"name": "P", "steps": [TRIGGER, fine]}).compensation("a-undo")
    assert compensation.retry == {"attempts": 4}


def _failed_once() -> WorkflowExecution:
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
    execution.start_step(step_id="sync", step_type="http_request", step_name="Sync", at=AT)
    execution.park_step(step_id="sync", error="HTTP 503", at=AT)
    return execution


def test_a_parked_step_needs_attention_until_someone_retries_it() -> None:
    execution = _failed_once()
    assert (execution.status, execution.step_history[-1]["status"]) == (
        "needs_attention",
        "needs_attention",
    )

    execution.resolve_parked_step(
        step_id="sync", action="retry", requested_by="user:ada", reason="fixed", at=AT
    )
    execution.start_step(step_id="sync", step_type="http_request", step_name="Sync", at=AT)

    assert execution.status == "running"
    first, second = execution.step_history
    assert (first["status"], first["error"]) == ("failed", "HTTP 503")
    assert first["resolution"]["requested_by"] == "user:ada"
    assert second["status"] == "started"


def test_only_a_parked_step_can_be_retried_or_skipped_and_only_once() -> None:
    execution = _failed_once()
    with pytest.raises(InvalidTransitionError):
        execution.resolve_parked_step(
            step_id="other", action="skip", requested_by=None, reason=None, at=AT
        )
    execution.resolve_parked_step(
        step_id="sync", action="skip", requested_by=None, reason=None, at=AT
    )
    assert execution.step_history[-1]["status"] == "skipped"
    with pytest.raises(InvalidTransitionError):
        execution.resolve_parked_step(
            step_id="sync", action="retry", requested_by=None, reason=None, at=AT
        )
