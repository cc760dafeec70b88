"""Which failures of an activity are final (refused at once, non-retryable) and which retry.

A refusal or a value that can never be stored gives the same answer on every attempt; a
collision with concurrent writers is final for a command a caller waits on (409, try again) but
retried for an execution's recording, whose step must not fail because a task was busy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from eventsourcing.persistence import DataError as PersistenceDataError
from pydantic import BaseModel, ValidationError

from application.errors import ConcurrencyError
from worker.interceptors import classify


class Draft(BaseModel):
    priority: int


def _validation_error() -> ValidationError:
    try:
        Draft.model_validate({"priority": "high"})
    except ValidationError as error:
        return error
    raise AssertionError("the model accepted a bad value")


def _overflow() -> OverflowError:
    try:
        datetime(9999, 12, 31, 23, tzinfo=UTC) + timedelta(days=2)
    except OverflowError as error:
        return error
    raise AssertionError("no overflow")


def _wrapped_data_error() -> PersistenceDataError:
    """As the event store raises it: its own DataError, caused by the driver's."""
    try:
        try:
            raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        except psycopg.DataError as driver:
            raise PersistenceDataError(str(driver)) from driver
    except PersistenceDataError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        _wrapped_data_error(),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        _overflow(),
    ],
    ids=["driver", "event-store", "surrogate", "overflow"],
)
def test_a_value_that_cannot_be_stored_is_a_final_invalid_value(error: Exception) -> None:
    failure = classify(error, "contact_command")

    assert failure is not None
    assert failure.type == "InvalidValue"
    assert failure.non_retryable
    assert failure.message.startswith("The command's data cannot be stored: ")


def test_a_model_that_does_not_validate_names_its_field() -> None:
    failure = classify(_validation_error(), "record_step")

    assert failure is not None
    assert failure.type == "InvalidValue"
    assert failure.non_retryable
    assert failure.details[0]["field"] == "priority"


def test_a_conflict_that_does_not_resolve_is_final_for_a_command_but_retried_by_a_recording() -> (
    None
):
    error = ConcurrencyError("command c/1 kept conflicting with concurrent changes; try again")

    command = classify(error, "task_command")
    recording = classify(error, "record_step")

    assert command is not None and command.type == "InvalidTransition" and command.non_retryable
    assert recording is None


@pytest.mark.parametrize(
    "error",
    [psycopg.OperationalError("server closed the connection"), RuntimeError("a bug"), KeyError()],
)
def test_anything_else_is_left_to_the_retry_policy(error: Exception) -> None:
    assert classify(error, "contact_command") is None
