from __future__ import annotations

from typing import Any

import pytest

from domain.definition_model import Definition
from domain.definition_validation import parse_definition, validate_definition
from domain.errors import DefinitionInvalidError, Problem
from tests.unit.domain.support import onboarding_body

TRIGGER: dict[str, Any] = {
    "id": "start",
    "type": "trigger",
    "name": "Manual start",
    "config": {"type": "manual"},
}
ASSIGN: dict[str, Any] = {
    "id": "review",
    "type": "assign_task",
    "name": "Review",
    "config": {"title": "Review", "assign_to": "role:admin"},
}


def definition(*steps: Any, **top: Any) -> dict[str, Any]:
    return {"name": "Test", "steps": [TRIGGER, *steps], **top}


def step(step_type: str, config: dict[str, Any], step_id: str = "s") -> dict[str, Any]:
    return {"id": step_id, "type": step_type, "name": step_type, "config": config}


def fields(problems: list[Problem]) -> set[str]:
    return {problem.field for problem in problems}


def problem_at(problems: list[Problem], field: str) -> Problem:
    matches = [problem for problem in problems if problem.field == field]
    assert matches, f"no problem at {field}; got {problems}"
    return matches[0]


# -- the contract's example ---------------------------------------------------------------------


def test_the_onboarding_definition_validates_cleanly() -> None:
    assert validate_definition(onboarding_body()) == []


def test_parsing_keeps_steps_in_run_order_with_the_trigger_first() -> None:
    parsed = parse_definition(onboarding_body())
    assert isinstance(parsed, Definition)
    assert [s.id for s in parsed.steps][:3] == ["step_1", "step_2", "step_3"]
    assert parsed.trigger.id == "step_1"
    assert parsed.trigger_type == "form_submission"
    assert [status.id for status in parsed.statuses] == ["approved", "rejected"]


def test_the_normalised_body_is_plain_json_with_every_key() -> None:
    body = parse_definition(onboarding_body()).to_dict()
    assert set(body) == {"name", "description", "statuses", "steps"}
    assert body["statuses"][0] == {"id": "approved", "label": "Approved", "color": "green"}
    assert body["steps"][1] == {**onboarding_body()["steps"][1], "order": None, "next": None}
    assert body["steps"][6]["next"] == "end"
    assert Definition.from_dict(body).to_dict() == body


def test_a_definition_without_statuses_or_description_is_valid() -> None:
    parsed = parse_definition(definition(ASSIGN))
    assert parsed.description is None
    assert parsed.statuses == ()


def test_steps_run_by_order_when_every_step_has_one() -> None:
    body = definition(
        {**ASSIGN, "order": 3},
        step("delay", {"minutes": 5}, "pause") | {"order": 2},
    )
    body["steps"][0] = {**TRIGGER, "order": 1}
    parsed = parse_definition(body)
    assert [s.id for s in parsed.steps] == ["start", "pause", "review"]
    assert [s["id"] for s in parsed.to_dict()["steps"]] == ["start", "pause", "review"]


def test_next_step_follows_next_then_list_order_then_end() -> None:
    parsed = parse_definition(onboarding_body())
    assert parsed.next_step_id("step_2") == "step_3"
    assert parsed.next_step_id("step_7") == "end"
    assert parsed.next_step_id("step_8") == "end"


# -- every problem at once ---------------------------------------------------------------------


def test_a_bad_definition_reports_every_problem_at_once() -> None:
    body = definition(
        ASSIGN,
        step("teleport", {}, "warp"),
        step(
            "condition",
            {"field": "{{review.outcome}}", "branches": [{"if": "yes", "then_goto": "step_99"}]},
            "decide",
        ),
        step("wait_for_task", {"task_from_step": "missing_step"}, "wait"),
        step("send_email", {"to": "{{user.email}}", "subject": "Hi", "body": "Hello"}, "mail"),
    )
    problems = validate_definition(body)

    assert problem_at(problems, "steps[2].type").step_id == "warp"
    assert "teleport" in problem_at(problems, "steps[2].type").message
    goto = problem_at(problems, "steps[3].config.branches[0].then_goto")
    assert goto.step_id == "decide"
    assert "step_99" in goto.message
    task = problem_at(problems, "steps[4].config.task_from_step")
    assert task.step_id == "wait"
    assert "missing_step" in task.message
    template = problem_at(problems, "steps[5].config.to")
    assert template.step_id == "mail"
    assert "{{user.email}}" in template.message
    assert "'user'" in template.message
    assert len(problems) == 4

    with pytest.raises(DefinitionInvalidError) as caught:
        parse_definition(body)
    assert caught.value.problems == problems
    assert "(and 3 more problems)" in caught.value.message


def test_the_error_message_summarises_the_first_problem_and_counts_the_rest() -> None:
    with pytest.raises(DefinitionInvalidError) as caught:
        parse_definition({"name": "", "steps": []})
    assert caught.value.message.startswith("The workflow definition is invalid: name:")
    assert "(and 1 more problem)" in caught.value.message


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_a_body_that_is_not_an_object_is_one_problem(body: Any) -> None:
    problems = validate_definition(body)
    assert [problem.field for problem in problems] == ["body"]


def test_top_level_rules() -> None:
    problems = validate_definition(
        {"name": "  ", "description": 5, "statuses": "x", "steps": [], "owner": "me"}
    )
    assert fields(problems) == {"name", "description", "statuses", "steps", "owner"}
    assert "owner" in problem_at(problems, "owner").message


def test_status_options_need_unique_non_blank_ids_and_labels() -> None:
    problems = validate_definition(
        definition(
            statuses=[
                {"id": "ok", "label": "OK"},
                {"id": "ok", "label": "Again"},
                {"id": "", "label": "Blank"},
                {"id": "x", "label": "", "color": 3, "icon": "y"},
                "plain",
            ]
        )
    )
    assert fields(problems) == {
        "statuses[1].id",
        "statuses[2].id",
        "statuses[3].label",
        "statuses[3].color",
        "statuses[3].icon",
        "statuses[4]",
    }


# -- step structure ------------------------------------------------------------------------------


def test_step_shape_problems_are_reported_per_field() -> None:
    problems = validate_definition(
        definition(
            {"id": "a b", "type": "delay", "name": "x", "config": {"minutes": 1}},
            {"id": "end", "type": "delay", "name": "x", "config": {"minutes": 1}},
            {"id": "contact", "type": "delay", "name": "x", "config": {"minutes": 1}},
            {"id": "ok", "type": "delay", "name": "", "config": [], "colour": "red"},
            "not a step",
        )
    )
    assert fields(problems) == {
        "steps[1].id",
        "steps[2].id",
        "steps[3].id",
        "steps[4].name",
        "steps[4].config",
        "steps[4].colour",
        "steps[5]",
    }
    assert "reserved" in problem_at(problems, "steps[2].id").message


def test_duplicate_step_ids_are_refused() -> None:
    problems = validate_definition(definition(ASSIGN, ASSIGN))
    assert fields(problems) == {"steps[2].id"}
    assert "review" in problems[0].message


def test_steps_must_not_be_empty() -> None:
    assert fields(validate_definition({"name": "x", "steps": []})) == {"steps"}


def test_once_one_step_has_an_order_every_step_needs_a_unique_one() -> None:
    body = definition({**ASSIGN, "order": 2}, step("delay", {"minutes": 1}, "p") | {"order": 2})
    problems = validate_definition(body)
    assert fields(problems) == {"steps[0].order", "steps[2].order"}


def test_order_must_be_a_whole_number() -> None:
    body = definition({**ASSIGN, "order": "2"})
    assert "steps[1].order" in fields(validate_definition(body))


def test_a_definition_needs_a_trigger() -> None:
    problems = validate_definition({"name": "x", "steps": [ASSIGN]})
    assert fields(problems) == {"steps"}
    assert "trigger" in problems[0].message


def test_only_one_trigger_is_allowed() -> None:
    problems = validate_definition(definition({**TRIGGER, "id": "again"}))
    assert fields(problems) == {"steps[1].type"}


def test_the_trigger_must_run_first() -> None:
    problems = validate_definition({"name": "x", "steps": [ASSIGN, TRIGGER]})
    assert fields(problems) == {"steps[1]"}
    problems = validate_definition(
        {"name": "x", "steps": [{**TRIGGER, "order": 5}, {**ASSIGN, "order": 1}]}
    )
    assert fields(problems) == {"steps[0]"}


@pytest.mark.parametrize(
    ("target", "problem"),
    [("end", False), ("review", False), ("nowhere", True), ("start", True), (3, True)],
)
def test_next_must_name_a_step_or_end(target: Any, problem: bool) -> None:
    body = definition(ASSIGN, step("delay", {"minutes": 1}, "pause") | {"next": target})
    assert ("steps[2].next" in fields(validate_definition(body))) is problem


# -- trigger config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"type": "form_submission"},
        {"type": "webhook"},
        {"type": "manual"},
        {"type": "schedule", "cron": "*/15 9-17 * * MON-FRI"},
        {"type": "schedule", "cron": "0 0 1,15 jan,jul 0"},
        {"type": "schedule", "cron": "5/10 * * * 7"},
        {"type": "record_created"},
        {"type": "record_updated"},
        {"type": "field_changed", "field": "status"},
        {"type": "webhook", "contact": {"email": "{{payload.email}}", "fields.source": "web"}},
    ],
)
def test_valid_trigger_configs(config: dict[str, Any]) -> None:
    assert validate_definition({"name": "x", "steps": [{**TRIGGER, "config": config}]}) == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "type"),
        ({"type": "email"}, "type"),
        ({"type": "schedule"}, "cron"),
        ({"type": "schedule", "cron": "* * * *"}, "cron"),
        ({"type": "schedule", "cron": "60 * * * *"}, "cron"),
        ({"type": "schedule", "cron": "* 24 * * *"}, "cron"),
        ({"type": "schedule", "cron": "* * 0 * *"}, "cron"),
        ({"type": "schedule", "cron": "* * * 13 *"}, "cron"),
        ({"type": "schedule", "cron": "* * * * 8"}, "cron"),
        ({"type": "schedule", "cron": "* * * FOO *"}, "cron"),
        ({"type": "schedule", "cron": "*/0 * * * *"}, "cron"),
        ({"type": "schedule", "cron": "10-5 * * * *"}, "cron"),
        ({"type": "schedule", "cron": "1,,2 * * * *"}, "cron"),
        ({"type": "schedule", "cron": "? * * * *"}, "cron"),
        ({"type": "field_changed"}, "field"),
        ({"type": "manual", "contact": {"nickname": "{{payload.n}}"}}, "contact.nickname"),
        ({"type": "manual", "contact": "x"}, "contact"),
    ],
)
def test_invalid_trigger_configs(config: dict[str, Any], field: str) -> None:
    problems = validate_definition({"name": "x", "steps": [{**TRIGGER, "config": config}]})
    assert f"steps[0].config.{field}" in fields(problems)


def test_a_cron_problem_names_the_bad_field_and_value() -> None:
    body = {
        "name": "x",
        "steps": [{**TRIGGER, "config": {"type": "schedule", "cron": "61 * * * *"}}],
    }
    (problem,) = validate_definition(body)
    assert "minute" in problem.message
    assert "'61'" in problem.message


# -- per step type -------------------------------------------------------------------------------


VALID_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("assign_task", {"title": "T", "assign_to": "user:42", "priority": "urgent"}),
    (
        "assign_task",
        {"title": "T", "assign_to": "{{input.reviewer}}", "due_date": "2025-03-05T10:00:00+00:00"},
    ),
    ("wait_for_task", {"task_from_step": "review", "timeout_days": 0.5, "on_timeout": "fail"}),
    ("wait_for_task", {"task_from_step": "review", "on_timeout": "review", "max_reminders": 3}),
    (
        "update_task",
        {"task_from_step": "review", "updates": {"assign_to": "role:hr", "due_date": None}},
    ),
    ("complete_task", {"task_from_step": "review", "outcome": "auto", "metadata": {"by": "bot"}}),
    ("update_contact", {"fields": {"status": "hired", "fields.start_date": "{{now + 14 days}}"}}),
    ("update_status", {"status": "anything-without-declared-statuses"}),
    ("set_due_date", {"due_date": "{{now + 2 days}}"}),
    ("set_due_date", {"due_date": "{{now + 2 days}}", "task_from_step": "review"}),
    (
        "send_email",
        {
            "to": ["a@example.com", "Bo <bo@example.com>"],
            "subject": "S",
            "body": "B",
            "cc": "{{contact.email}}",
            "from": "noreply@example.com",
        },
    ),
    ("reminder", {"message": "Nudge", "delay_days": 1, "delay_hours": 2}),
    ("reminder", {"message": "Nudge", "at": "{{now + 1 day}}", "task_from_step": "review"}),
    ("delay", {"days": 0, "seconds": 30}),
    ("condition", {"field": "{{contact.status}}", "branches": [{"if": "a", "then_goto": "end"}]}),
    (
        "wait_for_signal",
        {"signal": "docs.received-v2", "timeout_hours": 4, "on_timeout": "continue"},
    ),
    (
        "http_request",
        {
            "method": "POST",
            "url": "https://hooks.example.com/x",
            "headers": {"X-A": "1"},
            "body": {"id": "{{contact.email}}", "n": [1, 2]},
            "timeout_seconds": 300,
            "retries": 0,
        },
    ),
    ("http_request", {"method": "GET", "url": "{{input.callback}}/status"}),
]


@pytest.mark.parametrize(("step_type", "config"), VALID_STEPS)
def test_valid_step_configs(step_type: str, config: dict[str, Any]) -> None:
    assert validate_definition(definition(ASSIGN, step(step_type, config))) == []


INVALID_STEPS: list[tuple[str, dict[str, Any], str]] = [
    ("assign_task", {"assign_to": "role:admin"}, "title"),
    ("assign_task", {"title": "  ", "assign_to": "role:admin"}, "title"),
    ("assign_task", {"title": "x" * 501, "assign_to": "role:admin"}, "title"),
    ("assign_task", {"title": "T"}, "assign_to"),
    ("assign_task", {"title": "T", "assign_to": "admin"}, "assign_to"),
    ("assign_task", {"title": "T", "assign_to": "user:"}, "assign_to"),
    ("assign_task", {"title": "T", "assign_to": "role:admin", "priority": "critical"}, "priority"),
    ("assign_task", {"title": "T", "assign_to": "role:admin", "due_date": "tomorrow"}, "due_date"),
    (
        "assign_task",
        {"title": "T", "assign_to": "role:admin", "due_date": "2025-03-05"},
        "due_date",
    ),
    ("assign_task", {"title": "T", "assign_to": "role:admin", "metadata": [1]}, "metadata"),
    ("wait_for_task", {}, "task_from_step"),
    ("wait_for_task", {"task_from_step": "start"}, "task_from_step"),
    ("wait_for_task", {"task_from_step": "review", "timeout_days": 0}, "timeout_days"),
    ("wait_for_task", {"task_from_step": "review", "timeout_days": "7"}, "timeout_days"),
    ("wait_for_task", {"task_from_step": "review", "on_timeout": "panic"}, "on_timeout"),
    ("wait_for_task", {"task_from_step": "review", "max_reminders": 1.5}, "max_reminders"),
    ("update_task", {"task_from_step": "review"}, "updates"),
    ("update_task", {"task_from_step": "review", "updates": {}}, "updates"),
    ("update_task", {"task_from_step": "review", "updates": {"status": "done"}}, "updates.status"),
    (
        "update_task",
        {"task_from_step": "review", "updates": {"priority": "p1"}},
        "updates.priority",
    ),
    ("complete_task", {"task_from_step": "ghost"}, "task_from_step"),
    ("complete_task", {"task_from_step": "review", "metadata": 3}, "metadata"),
    ("update_contact", {}, "fields"),
    ("update_contact", {"fields": {"nickname": "x"}}, "fields.nickname"),
    ("update_contact", {"fields": {"fields.": "x"}}, "fields.fields."),
    ("update_status", {}, "status"),
    ("set_due_date", {}, "due_date"),
    ("set_due_date", {"due_date": "{{now}}", "task_from_step": "ghost"}, "task_from_step"),
    ("send_email", {"subject": "S", "body": "B"}, "to"),
    ("send_email", {"to": "not-an-address", "subject": "S", "body": "B"}, "to"),
    ("send_email", {"to": ["a@example.com", 3], "subject": "S", "body": "B"}, "to[1]"),
    ("send_email", {"to": [], "subject": "S", "body": "B"}, "to"),
    ("send_email", {"to": "a@example.com", "body": "B"}, "subject"),
    ("send_email", {"to": "a@example.com", "subject": "S"}, "body"),
    ("reminder", {"delay_days": 1}, "message"),
    ("reminder", {"message": "Nudge"}, "delay_days"),
    ("reminder", {"message": "Nudge", "delay_hours": -1}, "delay_hours"),
    ("reminder", {"message": "Nudge", "delay_days": 1, "at": "{{now}}"}, "at"),
    ("delay", {}, "days"),
    ("delay", {"minutes": 0}, "minutes"),
    ("delay", {"hours": -1}, "hours"),
    ("delay", {"hours": True}, "hours"),
    ("condition", {"branches": [{"if": "a", "then_goto": "end"}]}, "field"),
    ("condition", {"field": "{{contact.status}}", "branches": []}, "branches"),
    (
        "condition",
        {"field": "{{contact.status}}", "branches": [{"then_goto": "end"}]},
        "branches[0].if",
    ),
    (
        "condition",
        {"field": "{{contact.status}}", "branches": [{"if": 1}]},
        "branches[0].then_goto",
    ),
    (
        "condition",
        {
            "field": "{{contact.status}}",
            "branches": [{"if": 1, "then_goto": "end"}],
            "default": "ghost",
        },
        "default",
    ),
    ("wait_for_signal", {}, "signal"),
    ("wait_for_signal", {"signal": "has space"}, "signal"),
    ("wait_for_signal", {"signal": "ok", "timeout_days": -2}, "timeout_days"),
    ("wait_for_signal", {"signal": "ok", "on_timeout": "send_reminder"}, "on_timeout"),
    ("http_request", {"url": "https://x.example"}, "method"),
    ("http_request", {"method": "FETCH", "url": "https://x.example"}, "method"),
    ("http_request", {"method": "GET"}, "url"),
    ("http_request", {"method": "GET", "url": "ftp://x.example"}, "url"),
    ("http_request", {"method": "GET", "url": "https://x", "headers": {"A": 1}}, "headers.A"),
    (
        "http_request",
        {"method": "GET", "url": "https://x", "timeout_seconds": 301},
        "timeout_seconds",
    ),
    ("http_request", {"method": "GET", "url": "https://x", "retries": 11}, "retries"),
    ("http_request", {"method": "GET", "url": "https://x", "retries": -1}, "retries"),
]


@pytest.mark.parametrize(("step_type", "config", "field"), INVALID_STEPS)
def test_invalid_step_configs(step_type: str, config: dict[str, Any], field: str) -> None:
    problems = validate_definition(definition(ASSIGN, step(step_type, config)))
    assert f"steps[2].config.{field}" in fields(problems), problems
    assert all(problem.step_id == "s" for problem in problems)
    assert all(problem.message.endswith(".") for problem in problems)


def test_update_status_must_use_a_declared_status() -> None:
    body = definition(
        step("update_status", {"status": "archived"}),
        statuses=[{"id": "approved", "label": "Approved"}],
    )
    (problem,) = validate_definition(body)
    assert problem.field == "steps[1].config.status"
    assert "archived" in problem.message
    assert "approved" in problem.message


def test_task_from_step_must_name_an_assign_task_step() -> None:
    body = definition(
        step("delay", {"minutes": 1}, "pause"),
        step("wait_for_task", {"task_from_step": "pause"}),
    )
    (problem,) = validate_definition(body)
    assert "delay step" in problem.message


def test_task_from_step_must_run_before_the_step_using_it() -> None:
    body = definition(step("wait_for_task", {"task_from_step": "review"}), ASSIGN)
    (problem,) = validate_definition(body)
    assert problem.field == "steps[1].config.task_from_step"
    assert "runs after" in problem.message


def test_jumps_cannot_target_the_trigger() -> None:
    body = definition(
        step(
            "condition",
            {"field": "{{contact.status}}", "branches": [{"if": 1, "then_goto": "start"}]},
        )
    )
    assert fields(validate_definition(body)) == {"steps[1].config.branches[0].then_goto"}


def test_unknown_config_keys_are_tolerated() -> None:
    body = definition(step("delay", {"minutes": 1, "ui": {"collapsed": True}}))
    assert validate_definition(body) == []


# -- templates inside configs ---------------------------------------------------------------------


def test_templates_may_read_the_standard_roots_and_earlier_steps() -> None:
    body = definition(
        ASSIGN,
        step(
            "http_request",
            {
                "method": "POST",
                "url": "https://x.example/{{execution.id}}",
                "body": {
                    "who": "{{contact.first_name}}",
                    "what": ["{{payload.form.answers.0}}", "{{input.note}}"],
                    "task": "{{review.task.id}}",
                    "when": "{{now - 1 hour}}",
                },
            },
        ),
    )
    assert validate_definition(body) == []


def test_a_template_with_an_unknown_root_names_step_field_and_expression() -> None:
    body = definition(
        step(
            "send_email",
            {"to": "a@example.com", "subject": "S", "body": "Hi {{applicant.name}}"},
            "mail",
        )
    )
    (problem,) = validate_definition(body)
    assert problem == Problem(field="steps[1].config.body", message=problem.message, step_id="mail")
    assert "{{applicant.name}}" in problem.message


def test_a_template_cannot_read_a_later_step_or_its_own_output() -> None:
    body = definition(
        step("update_contact", {"fields": {"status": "{{later.outcome}}"}}, "early"),
        step("delay", {"minutes": 1}, "later"),
        step("update_contact", {"fields": {"status": "{{self_ref.outcome}}"}}, "self_ref"),
    )
    problems = validate_definition(body)
    assert fields(problems) == {"steps[1].config.fields.status", "steps[3].config.fields.status"}
    assert "runs after" in problem_at(problems, "steps[1].config.fields.status").message
    assert "own output" in problem_at(problems, "steps[3].config.fields.status").message


def test_template_syntax_errors_inside_nested_config_are_reported_with_their_path() -> None:
    body = definition(
        step("http_request", {"method": "POST", "url": "https://x", "body": {"a": ["{{ oops"]}})
    )
    (problem,) = validate_definition(body)
    assert problem.field == "steps[1].config.body.a[0]"
    assert "never closes" in problem.message


def test_a_config_value_json_cannot_carry_is_a_problem() -> None:
    body = definition(step("delay", {"minutes": 1, "extra": float("nan")}))
    assert fields(validate_definition(body)) == {"steps[1].config.extra"}


def test_problems_serialise_for_problem_json_responses() -> None:
    assert Problem("steps[1].id", "Bad.", "s").to_dict() == {
        "field": "steps[1].id",
        "message": "Bad.",
        "step_id": "s",
    }
