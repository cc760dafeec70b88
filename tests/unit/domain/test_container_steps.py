"""`parallel` and `for_each` in the definition format: the steps inside checked where they
are (every problem at once, named by its path), normalised like the definition's own, and
found by id."""

from __future__ import annotations

from typing import Any

from domain.definition_model import Definition, branches_of
from domain.definition_validation import parse_definition, validate_definition

TRIGGER = {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}}


def step(step_id: str, step_type: str, **config: Any) -> dict[str, Any]:
    return {"id": step_id, "type": step_type, "name": f" {step_id} ", "config": config}


def parallel(*branches: tuple[str, list[dict[str, Any]]], join: str = "all") -> dict[str, Any]:
    return {
        "id": "both",
        "type": "parallel",
        "name": "Both",
        "config": {"join": join, "branches": [{"name": n, "steps": s} for n, s in branches]},
    }


def problems(*steps: dict[str, Any]) -> set[tuple[str, str | None]]:
    found = validate_definition({"name": "P", "steps": [TRIGGER, *steps]})
    return {(problem.field, problem.step_id) for problem in found}


def test_a_valid_parallel_step_is_normalised_and_its_steps_found_by_id() -> None:
    made = step("made", "create_contact", fields={"first_name": "A"})
    made["compensate"] = {"type": "archive_contact", "config": {"reason": "undo"}}
    body = {
        "name": "P",
        "steps": [
            TRIGGER,
            parallel(
                ("a", [made, step("a2", "transform", expressions={"n": "made.contact.id"})]),
                ("b", [step("b1", "delay", seconds=1)]),
            ),
            step("after", "transform", expressions={"x": "a2.n", "y": "b1.seconds"}),
        ],
    }
    definition = parse_definition(body)
    again = Definition.from_dict(definition.to_dict())

    (a, b) = branches_of(again.step("both"))
    assert b.name == "b"
    assert [s.id for s in a.steps] == ["made", "a2"]
    assert a.steps[0].name == "made"  # stripped like any step's
    assert a.steps[0].compensate[0].id == "made-undo"
    assert again.find("b1").type == "delay"
    assert again.compensation("made-undo").type == "archive_contact"
    assert a.next_step_id("made") == "a2"
    assert a.next_step_id("a2") == "end"


def test_every_problem_inside_branches_is_named_by_its_path() -> None:
    found = problems(
        step("task", "assign_task", title="T", assign_to="role:a"),
        parallel(
            (
                "a",
                [
                    step("a1", "assign_task", assign_to="role:a", title="{{b1.task.id}}"),
                    {**step("a2", "wait_for_task", task_from_step="b1"), "order": 3},
                    {**step("a3", "update_status", status="x"), "on_failure": "park"},
                    {**step("a4", "delay", seconds=1), "next": "task"},
                ],
            ),
            ("a", [step("b1", "assign_task", title="B", assign_to="role:b"), step("x", "trigger")]),
            join="first",
        ),
        {**step("after", "delay", seconds=1), "next": "a1"},
    )

    path = "steps[2].config"
    assert found == {
        (f"{path}.join", "both"),
        (f"{path}.branches[1].name", "both"),
        (f"{path}.branches[0].steps[0].config.title", "a1"),
        (f"{path}.branches[0].steps[1].order", "a2"),
        (f"{path}.branches[0].steps[1].config.task_from_step", "a2"),
        (f"{path}.branches[0].steps[2].on_failure", "a3"),
        (f"{path}.branches[0].steps[3].next", "a4"),
        (f"{path}.branches[1].steps[1].type", "x"),
        (f"{path}.branches[1].steps[1].config.type", "x"),
        ("steps[3].next", "after"),
    }


def test_a_parallel_step_needs_two_branches_of_steps() -> None:
    assert problems(parallel(("a", [step("a1", "delay", seconds=1)]))) == {
        ("steps[1].config.branches", "both")
    }
    assert problems(parallel(("a", []), ("b", [step("b1", "delay", seconds=1)]))) == {
        ("steps[1].config.branches[0].steps", "both")
    }


def for_each(*steps: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "id": "each",
        "type": "for_each",
        "name": "Each",
        "config": {"items": "{{payload.items}}", "steps": list(steps), **config},
    }


def test_a_for_each_reads_its_item_and_its_steps_are_found() -> None:
    body = {
        "name": "P",
        "steps": [
            TRIGGER,
            for_each(
                step("calc", "transform", expressions={"n": "loop.item.n"}),
                step("task", "assign_task", title="{{loop.index}}: {{calc.n}}", assign_to="role:a"),
                max_items=10,
            ),
            step("after", "transform", expressions={"all": "each.outputs"}),
        ],
    }
    definition = Definition.from_dict(parse_definition(body).to_dict())

    (sequence,) = branches_of(definition.step("each"))
    assert [s.id for s in sequence.steps] == ["calc", "task"]
    assert definition.find("task").name == "task"


def test_every_problem_of_a_for_each_is_named_by_its_path() -> None:
    made = step("made", "create_contact", fields={"first_name": "A"})
    made["compensate"] = {"type": "archive_contact", "config": {}}
    found = problems(
        for_each(
            made,
            {**step("w", "delay", seconds=1), "next": "after"},
            step("p", "parallel"),
            items="documents",
            max_items=1001,
        ),
        step("after", "transform", expressions={"x": "loop.item"}),
        step("loop", "delay", seconds=1),
    )
    assert found == {
        ("steps[1].config.items", "each"),
        ("steps[1].config.max_items", "each"),
        ("steps[1].config.steps[0].compensate", "made"),
        ("steps[1].config.steps[1].next", "w"),
        ("steps[1].config.steps[2].type", "p"),
        ("steps[1].config.steps[2].config.branches", "p"),
        ("steps[2].config.expressions.x", "after"),
        ("steps[3].id", "loop"),
    }


def test_a_container_cannot_be_a_compensation() -> None:
    undone = step("made", "create_contact", fields={"first_name": "A"})
    undone["compensate"] = [
        {"type": "parallel", "config": {"branches": []}},
        {"type": "for_each", "config": {"items": [1], "steps": []}},
    ]
    assert problems(undone) == {
        ("steps[1].compensate[0].type", "made"),
        ("steps[1].compensate[1].type", "made"),
    }
