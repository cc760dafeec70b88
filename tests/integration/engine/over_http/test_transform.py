"""`transform` over HTTP: a definition computes values with JMESPath and later steps use them;
bad expressions are refused when the definition is posted; a failing one fails its step."""

from __future__ import annotations

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem
from tests.integration.engine.over_http.support import (
    activate,
    body,
    output,
    run,
    step,
    timeline,
)

ORDER = {
    "items": [
        {"sku": "desk", "price": 120, "qty": 1},
        {"sku": "lamp", "price": 30.5, "qty": 2},
    ]
}


async def test_computed_values_reach_later_steps_and_the_timeline(stack: Stack) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(
            step(
                "calc",
                "transform",
                expressions={
                    "total": "sum(input.items[].price)",
                    "skus": "join(', ', sort(input.items[].sku))",
                    "name": "contact.first_name",
                    "how": "start.type",
                },
            ),
            step(
                "review",
                "assign_task",
                title="{{calc.name}}: {{calc.skus}} for {{calc.total}}",
                assign_to="role:sales",
            ),
        ),
    )

    execution = await run(caller, definition_id, input=ORDER, contact={"first_name": "Ada"})

    assert execution["status"] == "completed", execution["error"]
    assert timeline(execution) == [
        ("start", "completed"),
        ("calc", "completed"),
        ("review", "completed"),
    ]
    assert output(execution, "calc") == {
        "total": 150.5,
        "skus": "desk, lamp",
        "name": "Ada",
        "how": "manual",
    }
    assert output(execution, "review")["task"]["title"] == "Ada: desk, lamp for 150.5"


async def test_bad_expressions_are_refused_when_the_definition_is_posted(stack: Stack) -> None:
    caller = stack.caller("admin")
    refused = await caller.post(
        "/api/v1/definitions",
        json=body(
            step("calc", "transform", expressions={"total": "sum(input.items[].price", "n": 7}),
            step("again", "transform", expressions={}),
        ),
    )

    problem = assert_problem(refused, 422)
    found = {(e["field"], e["step_id"]) for e in problem["errors"]}
    assert found == {
        ("steps[1].config.expressions.total", "calc"),
        ("steps[1].config.expressions.n", "calc"),
        ("steps[2].config.expressions", "again"),
    }


async def test_an_expression_that_fails_on_the_data_fails_its_step_naming_it(
    stack: Stack,
) -> None:
    caller = stack.caller("admin")
    definition_id = await activate(
        caller,
        body(
            step("calc", "transform", expressions={"total": "sum(input.items[].sku)"}),
            step("never", "assign_task", title="{{calc.total}}", assign_to="role:sales"),
        ),
    )

    execution = await run(caller, definition_id, input=ORDER, contact={"first_name": "Bo"})

    assert execution["status"] == "failed"
    assert execution["error"].startswith("Step 'calc' (Calc): 'total' ('sum(input.items[].sku)')")
    assert "invalid type" in execution["error"]
    assert [s for s, _ in timeline(execution)] == ["start", "calc"]
