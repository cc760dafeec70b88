"""Values Postgres or UTF-8 cannot carry are invalid values, found before anything is stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.errors import InvalidValueError
from domain.values import MAX_JSON_DEPTH, json_copy, json_problem, text_problem, utc
from tests.unit.domain.support import at

LAST_MINUTE_WEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_nul_and_lone_surrogates_are_named_and_other_text_is_fine() -> None:
    assert text_problem("Grace Hopper, 名前, 🙂") is None
    assert "NUL" in (text_problem("a\x00b") or "")
    assert "surrogate" in (text_problem("\ud800") or "")
    assert "surrogate" in (text_problem("ok \udfff") or "")


@pytest.mark.parametrize(
    ("value", "where", "why"),
    [
        ({"note": "a\x00"}, "fields.note", "NUL"),
        ({"tags": ["ok", "\udc00"]}, "fields.tags[1]", "surrogate"),
        ({"\ud800": "x"}, "fields", "key"),
        ({"k\x00": 1}, "fields", "key"),
        (nested(MAX_JSON_DEPTH + 1), "fields" + ".a" * MAX_JSON_DEPTH, "nested"),
    ],
)
def test_json_problem_names_the_first_bad_place(value: Any, where: str, why: str) -> None:
    found = json_problem(value, field="fields")

    assert found is not None
    assert found[0] == where
    assert why in found[1]


def test_json_problem_accepts_storable_json_and_the_deepest_allowed_nesting() -> None:
    assert json_problem({"a": [1, 2.5, None, True, "x", {"b": "ü"}]}) is None
    assert json_problem(nested(MAX_JSON_DEPTH)) is None
    # Iterative: a depth no recursion would survive is answered, not a RecursionError.
    assert json_problem(nested(100_000)) is not None


def test_json_copy_refuses_nul_and_surrogates_in_values_and_keys() -> None:
    for bad in ({"a": "\x00"}, {"a": ["\ud800"]}, {"\udfff": 1}):
        with pytest.raises(InvalidValueError) as refused:
            json_copy(bad, field="fields")
        assert refused.value.field.startswith("fields")


def test_a_time_past_the_last_utc_datetime_is_an_invalid_value_not_an_overflow() -> None:
    with pytest.raises(InvalidValueError) as refused:
        utc(LAST_MINUTE_WEST, field="due_date")

    assert refused.value.field == "due_date"
    assert "out of range" in str(refused.value)


def test_a_contact_with_a_nul_in_its_name_is_refused_by_the_aggregate() -> None:
    with pytest.raises(InvalidValueError) as refused:
        Contact.create(
            contact_id=uuid4(),
            org_id="org_1",
            first_name="A\x00da",
            last_name=None,
            email=None,
            phone=None,
            fields={},
            at=at(),
        )

    assert refused.value.field == "first_name"
