"""The typed configs of the step types: what a rendered config becomes, and how a value of the
wrong kind is refused (the engine fails the step with this message, naming the field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.steps import STEP_TYPES, StepConfigError, StepRef, StepType, Wait, register, step_type
from domain.steps.assign_task import AssignTaskConfig
from domain.steps.condition import ConditionConfig
from domain.steps.delay import DelayConfig
from domain.steps.http_request import HttpRequestConfig
from domain.steps.send_email import SendEmailConfig
from domain.steps.update_task import UpdateTaskConfig

BUILT_IN = (
    "trigger",
    "assign_task",
    "wait_for_task",
    "update_task",
    "complete_task",
    "update_contact",
    "update_status",
    "set_due_date",
    "send_email",
    "reminder",
    "delay",
    "condition",
    "wait_for_signal",
    "http_request",
)


def test_every_built_in_type_is_registered_in_contract_order() -> None:
    assert tuple(STEP_TYPES)[: len(BUILT_IN)] == BUILT_IN


def test_a_second_type_under_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(StepType("delay", AssignTaskConfig, step_type("delay").check))


def test_assign_task_turns_rendered_values_into_typed_ones() -> None:
    config = step_type("assign_task").parse(
        {"title": 42, "assign_to": "role:hr", "due_date": "2031-01-02T03:04:05+00:00"}
    )
    assert isinstance(config, AssignTaskConfig)
    assert config.title == "42"
    assert config.due_date == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert config.metadata == {}


@pytest.mark.parametrize(
    ("type_name", "rendered", "field", "message"),
    [
        (
            "assign_task",
            {"title": "t", "assign_to": "role:hr", "due_date": "next week"},
            "due_date",
            "'due_date' is 'next week', not an ISO-8601 date-time with a timezone.",
        ),
        (
            "assign_task",
            {"title": "t", "metadata": "plain text"},
            "metadata",
            "'metadata' must be an object, not 'plain text'.",
        ),
        (
            "send_email",
            {"to": "", "subject": "s", "body": "b"},
            "to",
            "'to' rendered to no email address ('').",
        ),
        (
            "http_request",
            {"method": "GET", "url": "ftp://example.com"},
            "url",
            "'url' is 'ftp://example.com'; a URL must start with http(s)://.",
        ),
        (
            "set_due_date",
            {"due_date": "2031-01-02T03:04:05"},
            "due_date",
            "'due_date' is '2031-01-02T03:04:05', not an ISO-8601 date-time with a timezone.",
        ),
        ("wait_for_task", {}, "task_from_step", "'task_from_step' is missing."),
    ],
)
def test_a_rendered_value_of_the_wrong_kind_names_its_field(
    type_name: str, rendered: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(StepConfigError) as refused:
        step_type(type_name).parse(rendered)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_update_task_changes_only_the_fields_the_step_names() -> None:
    config = step_type("update_task").parse(
        {"task_from_step": "review", "updates": {"assign_to": "user:9", "due_date": None}}
    )
    assert isinstance(config, UpdateTaskConfig)
    assert config.updates.changes() == {"assigned_to": "user:9", "due_date": None}


def test_send_email_splits_address_lists_and_reads_from() -> None:
    config = step_type("send_email").parse(
        {"to": ["a@x.org, b@x.org"], "from": "hr@x.org", "subject": "s", "body": "b"}
    )
    assert isinstance(config, SendEmailConfig)
    assert (config.to, config.sender) == (["a@x.org", "b@x.org"], ["hr@x.org"])


def test_condition_matches_numbers_by_their_text_and_falls_back_to_default() -> None:
    config = step_type("condition").parse(
        {"field": "7", "branches": [{"if": 7.0, "then_goto": "high"}], "default": "low"}
    )
    assert isinstance(config, ConditionConfig)
    assert config.choose() == (0, "high")
    other = ConditionConfig.model_validate({"field": 3, "branches": [], "default": "low"})
    assert other.choose() == (None, "low")


def test_http_request_defaults_and_delay_length() -> None:
    http = step_type("http_request").parse({"url": "https://x.org", "retries": 0})
    assert isinstance(http, HttpRequestConfig)
    assert (http.verb, http.attempts, http.timeout, http.backoff) == ("GET", 1, 30.0, 1.0)
    delay = step_type("delay").parse({"minutes": 2, "seconds": "x"})
    assert isinstance(delay, DelayConfig)
    assert delay.length == timedelta(minutes=2)


def test_step_ref_and_wait_round_trip_as_json() -> None:
    until = datetime(2031, 1, 2, tzinfo=UTC)
    wait = Wait("task", until, step_id="wait", task_id="t-1")
    assert Wait.model_validate_json(wait.model_dump_json()) == wait
    assert wait.detail == {"task_id": "t-1"}
    legacy = {"waiting_for": "task", "until": None, "detail": {"task_id": "t-1"}}
    assert Wait.model_validate(legacy).task_id == "t-1"
    ref = StepRef("s", "delay", "Pause")
    assert StepRef.model_validate(ref.model_dump()) == ref
