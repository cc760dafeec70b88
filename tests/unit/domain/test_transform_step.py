"""The `transform` step: JMESPath expressions checked when the definition is published, and
evaluated on the execution's data within fixed limits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from domain.definition_validation import validate_definition
from domain.steps import step_type
from domain.steps.transform import (
    MAX_EXPRESSION_CHARS,
    MAX_INPUT_BYTES,
    TransformConfig,
    TransformError,
    evaluate,
)

TRIGGER: dict[str, Any] = {
    "id": "start",
    "type": "trigger",
    "name": "Start",
    "config": {"type": "manual"},
}
DATA: dict[str, Any] = {
    "payload": {"items": [{"sku": "a", "price": 2}, {"sku": "b", "price": 3.5}]},
    "contact": {"first_name": "Ada", "fields": {"tier": "gold"}},
    "input": {"discount": 0.5},
    "start": {"type": "manual"},
}


def _problems(config: dict[str, Any]) -> dict[str, str]:
    body = {
        "name": "T",
        "steps": [TRIGGER, {"id": "calc", "type": "transform", "name": "Calc", "config": config}],
    }
    return {p.field: p.message for p in validate_definition(body) if p.step_id == "calc"}


def test_expressions_compute_values_from_payload_contact_input_and_earlier_steps() -> None:
    output = evaluate(
        {
            "total": "sum(payload.items[].price)",
            "skus": "payload.items[?price > `2`].sku",
            "name": "contact.first_name",
            "tier": "contact.fields.tier",
            "discount": "input.discount",
            "how": "start.type",
            "missing": "payload.nope",
        },
        DATA,
    )
    assert output == {
        "total": 5.5,
        "skus": ["b"],
        "name": "Ada",
        "tier": "gold",
        "discount": 0.5,
        "how": "manual",
        "missing": None,
    }


def test_a_valid_config_has_no_problems_and_parses() -> None:
    assert _problems({"expressions": {"total": "sum(payload.items[].price)"}}) == {}
    config = step_type("transform").parse({"expressions": {"total": "length(payload.items)"}})
    assert isinstance(config, TransformConfig)
    assert config.expressions == {"total": "length(payload.items)"}


def test_every_problem_is_reported_at_once_naming_the_step_and_the_field() -> None:
    problems = _problems(
        {
            "expressions": {
                "broken": "payload.items[",
                "templated": "{{payload.x}}",
                "bad name": "payload",
                "long": "a" * (MAX_EXPRESSION_CHARS + 1),
                "number": 3,
            }
        }
    )
    assert set(problems) == {
        "steps[1].config.expressions.broken",
        "steps[1].config.expressions.templated",
        "steps[1].config.expressions.bad name",
        "steps[1].config.expressions.long",
        "steps[1].config.expressions.number",
    }
    assert "not a valid JMESPath expression" in problems["steps[1].config.expressions.broken"]
    assert "cannot hold a {{template}}" in problems["steps[1].config.expressions.templated"]
    assert "at most 1000" in problems["steps[1].config.expressions.long"]
    assert _problems({}) == {
        "steps[1].config.expressions": "A transform step needs 'expressions' (an object)."
    }
    assert "is empty" in _problems({"expressions": {}})["steps[1].config.expressions"]


def test_a_type_error_at_run_time_names_the_value_and_the_expression() -> None:
    with pytest.raises(TransformError, match=r"'total' \('sum\(contact.first_name\)'\) cannot"):
        evaluate({"total": "sum(contact.first_name)"}, DATA)


@pytest.mark.parametrize(
    "expression",
    [
        "[@, @]" + " | [@, @]" * 60 + " | to_string(@)",  # a tree of shared parts, serialised
        "[@, @]" + " | [@, @]" * 60,  # the same tree as the step's output
        "[@, @][]" + " | [@, @][]" * 60,  # a list doubled by flattening
        "to_string(@)" + " | join('', [@, @])" * 60,  # text doubled
    ],
)
def test_an_expression_that_grows_without_bound_is_stopped_quickly(expression: str) -> None:
    began = time.monotonic()
    with pytest.raises(TransformError, match=r"larger than|units of work"):
        evaluate({"boom": expression}, DATA)
    assert time.monotonic() - began < 5


def test_too_much_data_is_refused_before_any_expression_runs() -> None:
    big = {"payload": {"blob": "x" * MAX_INPUT_BYTES}}
    with pytest.raises(TransformError, match="larger than 1,000,000 bytes"):
        evaluate({"n": "length(payload.blob)"}, big)


def test_the_same_data_gives_the_same_values() -> None:
    expressions = {"sorted": "sort_by(payload.items, &price)[].sku", "keys": "keys(contact)"}
    assert evaluate(expressions, DATA) == evaluate(expressions, DATA)


def test_names_the_data_does_not_have_when_the_step_runs_are_refused() -> None:
    body = {
        "name": "T",
        "steps": [
            TRIGGER,
            {
                "id": "calc",
                "type": "transform",
                "name": "Calc",
                "config": {
                    "expressions": {
                        "fine": "sum(payload.items[].price) || start.type",
                        "typo": "paylaod.items",
                        "own": "calc.fine",
                        "later": "max_by(review.task.metadata, &score)",
                        "inner": "payload.items[?price > `2`].sku",
                    }
                },
            },
            {
                "id": "review",
                "type": "assign_task",
                "name": "Review",
                "config": {"title": "{{calc.fine}}", "assign_to": "role:a"},
            },
        ],
    }
    problems = {p.field: p.message for p in validate_definition(body)}
    assert problems == {
        "steps[1].config.expressions.typo": "'expressions.typo' reads 'paylaod', which is "
        "neither contact, payload, input, execution nor the id of a step.",
        "steps[1].config.expressions.own": "'expressions.own' reads 'calc', this step's own "
        "output, which does not exist yet when it runs.",
        "steps[1].config.expressions.later": "'expressions.later' reads 'review', a step that "
        "runs after this one, so its output does not exist yet.",
    }
