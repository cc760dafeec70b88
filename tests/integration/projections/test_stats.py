"""The execution_stats read model and the statistics computed from it, on known timelines.

Five executions of one definition, each created a day after the one before, with times chosen so
that every percentile below can be worked out by hand (percentile_cont interpolates):

* A (v1): trigger 1 s; review task waited for 1 h (2 s of work around it); completed.
* B (v1): trigger 2 s; waiting for its review task now.
* C (v1): trigger 1 s; waited 2 h for the task, then timed out.
* D (v2): trigger run twice by a loop (1 s, 3 s); completed after 4 s.
* E (v2): created, never started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from projections.admin import rebuild_projection, verify_projection
from projections.queries.stats import definition_stats
from tests.integration.projections.eventlog import EventLog, append
from tests.integration.projections.scenario import onboarding
from tests.integration.projections.support import (
    assert_equals_fresh_rebuild,
    head,
    project_all,
)

Conn = psycopg.Connection[Any]
DAY0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SS = "WorkflowExecution.StepStarted"
SC = "WorkflowExecution.StepCompleted"
W = "WorkflowExecution.Waiting"


class Timeline:
    """Events of one execution at chosen offsets (seconds after its creation)."""

    def __init__(self, log: EventLog, definition_id: UUID, version: int, day: int) -> None:
        self.log = log
        self.start = DAY0 + timedelta(days=day)
        log.clock = self.start
        self.id = log.execution(definition_id=definition_id)
        if version != 1:  # EventLog creates version 1 executions; rewrite the queued event
            created = log.pending[-1]
            created.data["definition_version"] = version

    def at(self, seconds: float, event_type: str, **data: Any) -> None:
        self.log.clock = self.start + timedelta(seconds=seconds)
        self.log.add(self.id, event_type, **data)

    def step(self, step_id: str, step_type: str, start: float, end: float | None) -> None:
        self.at(start, SS, step_id=step_id, step_type=step_type, step_name=step_id.title())
        if end is not None:
            self.at(end, SC, step_id=step_id, output={})


@pytest.fixture
def story(database_url: str) -> UUID:
    log = EventLog(tick=timedelta(0))
    log.clock = DAY0 - timedelta(days=1)
    definition_id = log.definition(name="Onboarding")
    log.publish(definition_id, version=2, name="Onboarding")

    a = Timeline(log, definition_id, 1, day=0)
    a.at(0, "WorkflowExecution.Started", workflow_run_id="run-a")
    a.step("trigger", "trigger", 0, 1)
    a.step("review", "wait_for_task", 1, None)
    a.at(3, W, step_id="review", waiting_for="task", until=None, detail={})
    a.at(3603, SC, step_id="review", output={})
    a.at(3603, "WorkflowExecution.Completed", output={})

    b = Timeline(log, definition_id, 1, day=1)
    b.at(0, "WorkflowExecution.Started", workflow_run_id="run-b")
    b.step("trigger", "trigger", 0, 2)
    b.step("review", "wait_for_task", 2, None)
    b.at(2, W, step_id="review", waiting_for="task", until=None, detail={})

    c = Timeline(log, definition_id, 1, day=2)
    c.at(0, "WorkflowExecution.Started", workflow_run_id="run-c")
    c.step("trigger", "trigger", 0, 1)
    c.step("review", "wait_for_task", 1, None)
    c.at(1, W, step_id="review", waiting_for="task", until=None, detail={})
    # A reminder's second Waiting does not restart the wait.
    c.at(3601, W, step_id="review", waiting_for="task", until=None, detail={})
    c.at(7201, "WorkflowExecution.TimedOut", step_id="review", reason="no review in 2 h")

    d = Timeline(log, definition_id, 2, day=3)
    d.at(0, "WorkflowExecution.Started", workflow_run_id="run-d")
    d.step("trigger", "trigger", 0, 1)
    d.step("trigger", "trigger", 1, 4)
    d.at(4, "WorkflowExecution.Completed", output={})

    Timeline(log, definition_id, 2, day=4)
    append(database_url, log.take())
    return definition_id


def stats(conn: Conn, definition_id: UUID, **options: Any) -> dict[str, Any]:
    return definition_stats(conn, "org_a", str(definition_id), **options)


def test_statistics_of_a_definition_are_the_numbers_of_its_executions(
    database_url: str, story: UUID, conn: Conn
) -> None:
    project_all(database_url, batch_size=7)  # batches end mid-execution: rows are reloaded

    result = stats(conn, story)

    assert result["executions"] == {
        "total": 5,
        "by_status": {"completed": 2, "pending": 1, "timed_out": 1, "waiting": 1},
        "ended": 3,
        "success_rate": 0.6667,
        "duration_ms": {"count": 2, "p50": 1_803_500.0, "p95": 3_423_050.0},
    }
    assert result["versions"] == [
        {
            "version": 1,
            "total": 3,
            "by_status": {"completed": 1, "timed_out": 1, "waiting": 1},
            "ended": 2,
            "success_rate": 0.5,
            "duration_ms": {"count": 1, "p50": 3_603_000.0, "p95": 3_603_000.0},
        },
        {
            "version": 2,
            "total": 2,
            "by_status": {"completed": 1, "pending": 1},
            "ended": 1,
            "success_rate": 1.0,
            "duration_ms": {"count": 1, "p50": 4000.0, "p95": 4000.0},
        },
    ]
    trigger, review = result["steps"]
    assert trigger == {
        "step_id": "trigger",
        "step_type": "trigger",
        "step_name": "Trigger",
        "reached": 4,
        "runs": 5,
        "by_outcome": {"completed": 5},
        "time_ms": {"count": 5, "p50": 1000.0, "p95": 2800.0},
        "wait_ms": {"count": 0, "p50": None, "p95": None},
        "work_ms": {"count": 5, "p50": 1000.0, "p95": 2800.0},
        "waiting_now": 0,
    }
    assert review == {
        "step_id": "review",
        "step_type": "wait_for_task",
        "step_name": "Review",
        "reached": 3,
        "runs": 3,
        "by_outcome": {"completed": 1, "failed": 1, "waiting": 1},
        "time_ms": {"count": 2, "p50": 5_401_000.0, "p95": 7_020_100.0},
        "wait_ms": {"count": 2, "p50": 5_400_000.0, "p95": 7_020_000.0},
        "work_ms": {"count": 2, "p50": 1000.0, "p95": 1900.0},
        "waiting_now": 1,
    }
    assert result["waiting_now"] == [
        {
            "step_id": "review",
            "waiting_for": "task",
            "count": 1,
            "oldest_since": DAY0 + timedelta(days=1, seconds=2),
        }
    ]


def test_a_version_and_a_creation_range_narrow_the_statistics(
    database_url: str, story: UUID, conn: Conn
) -> None:
    project_all(database_url)

    v2 = stats(conn, story, version=2)
    assert v2["executions"]["by_status"] == {"completed": 1, "pending": 1}
    assert [s["step_id"] for s in v2["steps"]] == ["trigger"]
    assert (v2["steps"][0]["reached"], v2["steps"][0]["runs"]) == (1, 2)
    assert [v["version"] for v in v2["versions"]] == [2]

    middle = stats(conn, story, since=DAY0 + timedelta(days=1), until=DAY0 + timedelta(days=3))
    assert middle["executions"]["by_status"] == {"timed_out": 1, "waiting": 1}
    assert middle["executions"]["success_rate"] == 0.0
    assert middle["executions"]["duration_ms"] == {"count": 0, "p50": None, "p95": None}
    assert [(s["step_id"], s["reached"]) for s in middle["steps"]] == [
        ("trigger", 2),
        ("review", 2),
    ]

    assert stats(conn, story, since=DAY0 + timedelta(days=9))["executions"] == {
        "total": 0,
        "by_status": {},
        "ended": 0,
        "success_rate": None,
        "duration_ms": {"count": 0, "p50": None, "p95": None},
    }
    other_org = definition_stats(conn, "org_b", str(story))
    assert other_org["executions"]["total"] == 0 and other_org["steps"] == []


def test_the_stats_read_model_rebuilds_and_verifies_like_the_others(
    database_url: str, story: UUID, conn: Conn
) -> None:
    log = EventLog()
    onboarding(log)  # the other read models' story too, interleaved in the store
    append(database_url, log.take())
    project_all(database_url, batch_size=3)
    before = stats(conn, story)

    assert_equals_fresh_rebuild(database_url)
    report = verify_projection(database_url, "execution_stats")
    assert report.ok and report.compared_rows > 0, report
    assert report.position == head(database_url)

    rebuilt = rebuild_projection(database_url, "execution_stats", from_scratch=True)
    assert rebuilt.position == head(database_url)
    assert stats(conn, story) == before
