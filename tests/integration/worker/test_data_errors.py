"""Data that can never be stored fails a command at once, with the reason, not after ten
attempts: a NUL in a text field (Postgres refuses it), a due date that overflows in UTC.

Issue 10, item 5: the activity used to fail ten times over about 45 s (`DataError`,
`OverflowError`), so `?wait=true` answered 504 and the client never learnt why. The API now
refuses such input at the door too; these commands go to Temporal directly, as a client of an
older API, a record trigger or a replayed history would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services, build_services
from worker.commands import AssignTask, CreateContact
from worker.contracts import (
    CONTACT_COMMAND_WORKFLOW,
    TASK_COMMAND_WORKFLOW,
    CommandMeta,
    CommandResult,
)
from worker.main import build_worker

META = CommandMeta(org_id="org_d", actor="user:1")
# 9999-12-31T23:59:59-14:00 is 10000-01-01T13:59:59Z: past what a datetime can hold.
OVERFLOWING = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


@pytest.fixture
async def running_worker(
    temporal_env: WorkflowEnvironment, services: Services, task_queue: str
) -> AsyncIterator[None]:
    async with build_worker(temporal_env.client, services, task_queue):
        yield


async def _refusal(env: WorkflowEnvironment, queue: str, name: str, cmd: Any) -> ActivityError:
    with pytest.raises(WorkflowFailureError) as failed:
        await env.client.execute_workflow(
            name,
            cmd,
            id=f"{name}-{uuid.uuid4()}",
            task_queue=queue,
            result_type=CommandResult,
            # A data error retried as if transient would keep the workflow running for its
            # whole retry window; this makes the test fail in seconds instead.
            execution_timeout=timedelta(seconds=20),
        )
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    return cause


def _events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    "given",
    [{"first_name": "Ada\x00"}, {"first_name": "Ada", "fields": {"note": "line\x00break"}}],
)
async def test_a_nul_in_a_contact_is_refused_at_once_as_an_invalid_value(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    running_worker: None,
    database_url: str,
    given: dict[str, Any],
) -> None:
    command = CreateContact(meta=META, contact_id=str(uuid.uuid4()), **given)

    failed = await _refusal(temporal_env, task_queue, CONTACT_COMMAND_WORKFLOW, command)

    refusal = failed.cause
    assert isinstance(refusal, ApplicationError)
    assert refusal.type == "InvalidValue"
    assert refusal.non_retryable
    assert failed.retry_state is not None and failed.retry_state.name == "NON_RETRYABLE_FAILURE"
    # Refused by the domain, or by Postgres when a value reaches it: either way it says why.
    assert "NUL" in refusal.message or "\\u0000" in refusal.message
    assert "\x00" not in refusal.message  # the reason itself can be stored and shown
    assert _events(database_url) == 0


async def test_a_due_date_that_overflows_in_utc_is_refused_at_once(
    temporal_env: WorkflowEnvironment, task_queue: str, running_worker: None, database_url: str
) -> None:
    command = AssignTask(
        meta=META,
        task_id=str(uuid.uuid4()),
        title="Review",
        assigned_to="user:1",
        due_date=OVERFLOWING,
    )

    failed = await _refusal(temporal_env, task_queue, TASK_COMMAND_WORKFLOW, command)

    refusal = failed.cause
    assert isinstance(refusal, ApplicationError)
    assert refusal.type == "InvalidValue"
    assert failed.retry_state is not None and failed.retry_state.name == "NON_RETRYABLE_FAILURE"
    assert _events(database_url) == 0
