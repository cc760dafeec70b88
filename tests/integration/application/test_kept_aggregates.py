"""Recording steps on a kept execution aggregate: what must still hold without a replay per step.

Each command takes the aggregate it changes from the service's kept set and gives it back after
its save commits (application/services/kept.py). These tests pin what a user of the timeline
would notice if that went wrong: a step of another writer lost, a refused command leaving a
phantom step behind, a conflicting writer overwriting instead of colliding.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from application.bundle import Services, build_services
from application.metadata import CommandContext
from application.services.execution_steps import StepRef
from domain.errors import InvalidValueError
from projections.audit import aggregate_state


@pytest.fixture
def two_workers(database_url: str) -> Iterator[tuple[Services, Services]]:
    """Two worker processes' services: separate pools, separate kept aggregates."""
    first, second = build_services(database_url), build_services(database_url)
    yield first, second
    first.close()
    second.close()


def ctx(command_id: str) -> CommandContext:
    return CommandContext(org_id="org_a", command_id=command_id, actor="user:1")


def begun(services: Services) -> UUID:
    execution_id = uuid4()
    services.executions.begin(
        ctx(f"{execution_id}/begin"),
        execution_id,
        definition_id="def-1",
        definition_version=1,
        workflow_id=f"wf-{execution_id}",
        workflow_run_id="run-1",
        contact_id=None,
        input={},
        trigger={"type": "manual"},
        trigger_step=StepRef(id="step_1", type="trigger", name="Start"),
        trigger_output={"type": "manual"},
    )
    return execution_id


def record(services: Services, execution_id: UUID, step: str, key: str) -> None:
    services.executions.record_step(
        ctx(f"{execution_id}/{key}"),
        execution_id,
        StepRef(id=step, type="condition", name=step),
        output={"value": step},
    )


def versions(url: str, execution_id: UUID) -> list[int]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT originator_version FROM events WHERE originator_id = %s ORDER BY position",
            (execution_id,),
        ).fetchall()
    return [int(row["originator_version"]) for row in rows]


def timeline(url: str, execution_id: UUID) -> list[tuple[str, str]]:
    """The timeline as auditors rebuild it from the stored events alone."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        state: dict[str, Any] | None = aggregate_state(
            conn, "org_a", "workflow_execution", execution_id
        )
    assert state is not None
    return [(entry["step_id"], entry["status"]) for entry in state["step_history"]]


def test_a_step_recorded_by_another_worker_is_not_lost(
    database_url: str, two_workers: tuple[Services, Services]
) -> None:
    first, second = two_workers
    execution_id = begun(first)
    record(first, execution_id, "step_2", "a")
    record(second, execution_id, "step_3", "b")  # first's kept copy is now behind
    record(first, execution_id, "step_4", "c")

    assert timeline(database_url, execution_id) == [
        ("step_1", "completed"),
        ("step_2", "completed"),
        ("step_3", "completed"),
        ("step_4", "completed"),
    ]
    assert versions(database_url, execution_id) == list(range(1, 11))


def test_a_refused_step_leaves_no_trace_in_the_next_one(
    database_url: str, two_workers: tuple[Services, Services]
) -> None:
    services, _ = two_workers
    execution_id = begun(services)
    with pytest.raises(InvalidValueError):
        # Starts step_2 in memory, then refuses the blank status: nothing may be kept of it.
        services.executions.update_status_step(
            ctx(f"{execution_id}/refused"),
            execution_id,
            StepRef(id="step_2", type="update_status", name="Status"),
            "  ",
        )
    record(services, execution_id, "step_3", "next")

    assert timeline(database_url, execution_id) == [
        ("step_1", "completed"),
        ("step_3", "completed"),
    ]
    assert versions(database_url, execution_id) == list(range(1, 7))


def test_concurrent_writers_of_one_execution_lose_no_step_and_leave_no_gap(
    database_url: str, two_workers: tuple[Services, Services]
) -> None:
    first, second = two_workers
    execution_id = begun(first)

    def write(services: Services, prefix: str) -> None:
        for n in range(10):
            record(services, execution_id, f"{prefix}_{n}", f"{prefix}-{n}")

    # Two writers, as when a reminder fires while the workflow records a step.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(write, first, "a"), pool.submit(write, second, "b")]
        for future in done:
            future.result()

    steps = [step for step, status in timeline(database_url, execution_id) if status == "completed"]
    assert sorted(steps) == sorted(["step_1", *(f"{p}_{n}" for p in "ab" for n in range(10))])
    assert versions(database_url, execution_id) == list(range(1, 4 + 20 * 2 + 1))


def test_a_retried_step_command_appends_nothing_twice(
    database_url: str, two_workers: tuple[Services, Services]
) -> None:
    first, second = two_workers
    execution_id = begun(first)
    record(first, execution_id, "step_2", "same")
    record(second, execution_id, "step_2", "same")  # the retry, on another worker
    record(first, execution_id, "step_2", "same")  # and again where it first ran

    assert timeline(database_url, execution_id) == [
        ("step_1", "completed"),
        ("step_2", "completed"),
    ]
