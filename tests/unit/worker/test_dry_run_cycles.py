"""A dry run refuses to start a definition whose steps can cycle without ever waiting or calling
anything (the interpreter would spin in it for good); cycles that wait are run, and stopped by
the step limit instead."""

from __future__ import annotations

from typing import Any

from worker.dry_run import spinning_cycle


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    start = {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}}
    return {"name": "T", "statuses": [], "steps": [start, *steps]}


def step(step_id: str, step_type: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": step_type, "name": step_id, "config": {}, **extra}


def condition(step_id: str, *targets: str, default: str | None = None) -> dict[str, Any]:
    branches = [{"if": n, "then_goto": t} for n, t in enumerate(targets)]
    config: dict[str, Any] = {"field": "{{payload.x}}", "branches": branches}
    if default is not None:
        config["default"] = default
    return {"id": step_id, "type": "condition", "name": step_id, "config": config}


def test_a_condition_that_jumps_to_itself_spins() -> None:
    assert spinning_cycle(definition(condition("c", "c"))) == ["c"]


def test_a_cycle_through_status_updates_and_a_condition_spins() -> None:
    found = spinning_cycle(
        definition(step("mark", "update_status"), condition("check", "mark", default="end"))
    )
    assert found == ["mark", "check"]


def test_a_cycle_through_a_default_or_next_spins() -> None:
    assert spinning_cycle(definition(condition("c", "end", default="c"))) == ["c"]
    assert spinning_cycle(definition(step("t", "transform", next="t"))) == ["t"]


def test_a_cycle_that_waits_or_calls_out_is_not_a_spin() -> None:
    waits = definition(step("go", "wait_for_signal", next="go"))
    calls = definition(
        step("mark", "update_status"),
        step("post", "http_request"),
        condition("again", "mark", default="end"),
    )
    straight = definition(step("mark", "update_status"), condition("check", "end"))
    assert spinning_cycle(waits) is None
    assert spinning_cycle(calls) is None
    assert spinning_cycle(straight) is None
