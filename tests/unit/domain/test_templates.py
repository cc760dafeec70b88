from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.errors import DomainError, TemplateResolutionError, TemplateSyntaxError
from domain.templates import parse_template, render_value

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {
    "contact": {"first_name": "Ada", "last_name": None, "email": "ada@example.com"},
    "payload": {"items": [{"name": "laptop", "qty": 2}], "age": 36, "tags": ["a", "b"]},
    "step_3": {"task": {"metadata": {"outcome": "approved"}}},
}


def render(text: str, **kwargs: Any) -> Any:
    return parse_template(text).render(CONTEXT, NOW, **kwargs)


def test_text_with_expressions_is_interpolated() -> None:
    assert render("Review {{contact.first_name}}'s Application") == "Review Ada's Application"


def test_whitespace_inside_braces_is_ignored() -> None:
    assert render("Hi {{   contact.first_name   }}!") == "Hi Ada!"


def test_text_without_expressions_renders_unchanged() -> None:
    assert render("plain text } { }}") == "plain text } { }}"


def test_a_lone_expression_renders_the_native_value() -> None:
    assert render("{{payload.age}}") == 36
    assert render("{{payload.items.0}}") == {"name": "laptop", "qty": 2}
    assert render("{{step_3.task.metadata}}") == {"outcome": "approved"}


def test_numeric_segments_index_lists() -> None:
    assert render("{{payload.items.0.name}} x{{payload.items.0.qty}}") == "laptop x2"


def test_interpolated_none_is_blank_and_collections_are_json() -> None:
    assert render("[{{contact.last_name}}]") == "[]"
    assert render("tags: {{payload.tags}}") == 'tags: ["a", "b"]'


def test_rendering_a_native_value_returns_a_copy_that_cannot_alter_the_context() -> None:
    value = render("{{payload.items.0}}")
    value["name"] = "changed"
    assert CONTEXT["payload"]["items"][0]["name"] == "laptop"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{now}}", "2025-03-03T09:00:00+00:00"),
        ("{{now + 3 days}}", "2025-03-06T09:00:00+00:00"),
        ("{{now+1 day}}", "2025-03-04T09:00:00+00:00"),
        ("{{now - 2 hours}}", "2025-03-03T07:00:00+00:00"),
        ("{{now + 30 minutes}}", "2025-03-03T09:30:00+00:00"),
        ("{{now + 1 minute}}", "2025-03-03T09:01:00+00:00"),
        ("{{now + 2 weeks}}", "2025-03-17T09:00:00+00:00"),
        ("due {{now + 1 week}}", "due 2025-03-10T09:00:00+00:00"),
    ],
)
def test_date_expressions_are_relative_to_the_given_now(text: str, expected: str) -> None:
    assert render(text) == expected


def test_references_are_the_root_names() -> None:
    template = parse_template("{{contact.email}} {{step_3.task.metadata.outcome}} {{now + 1 day}}")
    assert template.references == {"contact", "step_3", "now"}


def test_a_missing_key_names_the_expression_and_the_missing_segment() -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        render("Hello {{contact.nickname}}")
    assert caught.value.expression == "contact.nickname"
    assert caught.value.segment == "nickname"
    assert "contact.nickname" in caught.value.message
    assert "nickname" in caught.value.message


def test_a_missing_root_is_reported() -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        render("{{input.order_id}}")
    assert caught.value.segment == "input"


def test_an_index_past_the_end_of_a_list_is_reported() -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        render("{{payload.items.5.name}}")
    assert caught.value.segment == "5"
    assert "list of 1 item" in caught.value.message


def test_looking_inside_a_plain_value_is_reported() -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        render("{{payload.age.years}}")
    assert caught.value.segment == "years"


def test_a_null_value_in_the_middle_of_a_path_is_reported() -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        render("{{contact.last_name.upper}}")
    assert caught.value.segment == "upper"


def test_lenient_rendering_yields_none_or_blank_for_missing_paths() -> None:
    assert render("{{contact.nickname}}", strict=False) is None
    assert render("Hi {{contact.nickname}}!", strict=False) == "Hi !"


def test_python_attributes_are_never_reachable() -> None:
    with pytest.raises(TemplateResolutionError):
        parse_template("{{payload.__class__}}").render({"payload": "text"}, NOW)
    with pytest.raises(TemplateResolutionError):
        parse_template("{{payload.keys}}").render({"payload": {"a": 1}}, NOW)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("Hello {{contact.first_name", 6),
        ("{{}}", 0),
        ("ab {{ contact..email }}", 3),
        ("{{now + 3 fortnights}}", 0),
        ("{{now + three days}}", 0),
        ("{{now.year}}", 0),
        ("{{contact.first name}}", 0),
    ],
)
def test_malformed_templates_raise_a_syntax_error_with_position(text: str, position: int) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse_template(text)
    assert caught.value.position == position
    assert isinstance(caught.value, DomainError)
    assert caught.value.message


def test_render_value_renders_templates_throughout_nested_json() -> None:
    config = {
        "title": "Review {{contact.first_name}}",
        "due_date": "{{now + 1 day}}",
        "metadata": {"outcome": "{{step_3.task.metadata.outcome}}", "count": 3},
        "list": ["{{payload.age}}", "fixed", None, True],
    }
    assert render_value(config, CONTEXT, NOW) == {
        "title": "Review Ada",
        "due_date": "2025-03-04T09:00:00+00:00",
        "metadata": {"outcome": "approved", "count": 3},
        "list": [36, "fixed", None, True],
    }


def test_render_value_raises_on_missing_paths_unless_lenient() -> None:
    config = {"to": "{{contact.work_email}}"}
    with pytest.raises(TemplateResolutionError):
        render_value(config, CONTEXT, NOW)
    assert render_value(config, CONTEXT, NOW, strict=False) == {"to": None}
