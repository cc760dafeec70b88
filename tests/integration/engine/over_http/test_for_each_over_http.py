"""`for_each` as a client sees it: a definition posted over HTTP runs its steps per item of
the start's input, each iteration in the timeline; bad loops are refused with every problem."""

from __future__ import annotations

from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem
from tests.integration.engine.over_http.support import activate, body, output, run, step


def _loop(items: Any, *steps: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "id": "each_doc",
        "type": "for_each",
        "name": "Each document",
        "config": {"items": items, "steps": list(steps), **config},
    }


async def test_a_task_per_document_and_the_timeline_marks_each_iteration(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(
            _loop(
                "{{input.documents}}",
                step(
                    "check",
                    "assign_task",
                    title="Check {{loop.item.name}} for {{contact.first_name}}",
                    assign_to="role:admin",
                ),
            ),
            step(
                "count", "transform", expressions={"titles": "each_doc.outputs[].check.task.title"}
            ),
        ),
    )
    documents = [{"name": "Passport"}, {"name": "Contract"}, {"name": "Payslip"}]

    execution = await run(
        caller, definition_id, input={"documents": documents}, contact={"first_name": "Ada"}
    )

    assert execution["status"] == "completed", execution["error"]
    assert output(execution, "count") == {
        "titles": ["Check Passport for Ada", "Check Contract for Ada", "Check Payslip for Ada"]
    }
    checks = [s for s in execution["steps"] if s["step_id"] == "check"]
    assert [s["within"] for s in checks] == [
        {"step_id": "each_doc", "iteration": i, "item": document}
        for i, document in enumerate(documents)
    ]
    assert all(s["status"] == "completed" for s in checks)
    task_id = checks[1]["output"]["task"]["id"]
    task = await caller.get(f"/api/v1/tasks/{task_id}")
    assert task.json()["title"] == "Check Contract for Ada"


async def test_too_many_items_fail_the_step_with_a_clear_reason(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(_loop("{{input.ids}}", step("t", "delay", seconds=0.1), max_items=2)),
    )

    execution = await run(caller, definition_id, input={"ids": [1, 2, 3]})

    assert execution["status"] == "failed"
    assert execution["error"] == (
        "Step 'each_doc' (Each document): 'items' holds 3 items, more than its max_items (2); "
        "no iteration ran."
    )


async def test_every_problem_of_a_loop_is_named_by_its_path(stack: Stack) -> None:
    caller = stack.caller("admin")
    refused = await caller.post(
        "/api/v1/definitions",
        json=body(
            _loop(
                "documents",
                step("check", "assign_task", assign_to="role:admin", title="{{loop.item}}"),
                {**step("wait", "wait_for_task", task_from_step="check"), "on_failure": "park"},
                max_items=0,
            ),
            step("after", "update_status", status="{{loop.item}}"),
        ),
    )

    problem = assert_problem(refused, 422)
    found = {(e["field"], e["step_id"]) for e in problem["errors"]}
    assert found == {
        ("steps[1].config.items", "each_doc"),
        ("steps[1].config.max_items", "each_doc"),
        ("steps[1].config.steps[1].on_failure", "wait"),
        ("steps[2].config.status", "after"),
    }
