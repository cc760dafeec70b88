"""The execution_stats handlers without a database: statuses they were never told about, waits,
retries, and the event types the projection reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.execution import WorkflowExecution
from projections.errors import UnexpectedEventError
from projections.events import RecordedEvent
from projections.stats import (
    Execution,
    apply,
    domain_effect,
    execution_event_types,
    status_of,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class Story:
    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.version = 0
        self.execution: Execution | None = None

    def event(self, event_type: str, seconds: float, **data: Any) -> RecordedEvent:
        self.version += 1
        return RecordedEvent(
            position=self.version,
            originator_id=self.id,
            originator_version=self.version,
            aggregate_type="workflow_execution",
            event_type="WorkflowExecution." + event_type,
            data=data,
            org_id="org_a",
            actor=None,
            correlation_id=None,
            occurred_at=T0 + timedelta(seconds=seconds),
        )

    def add(self, event_type: str, seconds: float, **data: Any) -> Execution:
        self.execution = apply(self.execution, self.event(event_type, seconds, **data))
        return self.execution

    def started(self) -> Story:
        self.add("Created", 0, definition_id=str(uuid.uuid4()), definition_version=1)
        self.add("Started", 0, workflow_run_id="r")
        self.add("StepStarted", 0, step_id="fix", step_type="wait_for_signal", step_name="Fix")
        self.add("Waiting", 10, step_id="fix", waiting_for="signal", until=None, detail={})
        return self


def test_a_status_carried_by_an_event_the_projection_never_heard_of_is_counted_as_such() -> None:
    story = Story().started()
    execution = story.add("Escalated", 70, status="escalated", reason="stuck")
    assert execution.row["status"] == "escalated"
    # Not one of the domain's open states: it has ended, and its open step with it.
    assert execution.row["ended_at"] == T0 + timedelta(seconds=70)
    assert execution.row["duration_ms"] == 70_000.0
    (run,) = execution.changed_runs.values()
    assert (run["status"], run["total_ms"], run["wait_ms"], run["work_ms"]) == (
        "escalated",
        70_000.0,
        60_000.0,
        10_000.0,
    )


def test_a_status_spelled_by_the_event_name_counts_when_the_domain_knows_the_state() -> None:
    story = Story()
    assert status_of(story.event("TimedOut", 0)) == "timed_out"
    assert status_of(story.event("Compensated", 0, status="compensated")) == "compensated"
    # Neither carried nor a state of the domain: the event changes no status.
    assert status_of(story.event("Retried", 0, from_step="fix")) is None


def test_an_execution_that_opens_again_loses_its_end_until_it_ends_anew() -> None:
    story = Story().started()
    story.add("Failed", 20, step_id="fix", error="boom")
    story.add("Retried", 30, from_step="fix")
    execution = story.add("StepStarted", 30, step_id="fix", step_type="x", step_name="Fix")
    assert execution.row["status"] == "running"
    assert (execution.row["ended_at"], execution.row["duration_ms"]) == (None, None)
    execution = story.add("Completed", 50, output={})
    assert execution.row["duration_ms"] == 50_000.0
    assert execution.row["step_runs"] == 2


def test_an_execution_moved_to_another_version_is_counted_under_it() -> None:
    story = Story().started()
    execution = story.add("Migrated", 40, definition_version=3, step_mapping={})
    assert execution.row["definition_version"] == 3
    assert execution.row["status"] == "waiting"


def test_an_event_before_its_execution_was_created_is_an_error_not_a_silent_skip() -> None:
    story = Story()
    with pytest.raises(UnexpectedEventError, match="no row"):
        apply(None, story.event("Started", 0, workflow_run_id="r"))


def test_every_execution_event_type_but_the_side_effects_is_read() -> None:
    types = execution_event_types()
    assert {"WorkflowExecution.Created", "WorkflowExecution.TimedOut"} <= types
    assert "WorkflowExecution.EmailSent" not in types


def test_a_compensated_execution_ends_compensated_with_its_undoing_steps_as_runs() -> None:
    story = Story()
    story.add("Created", 0, definition_id=str(uuid.uuid4()), definition_version=1)
    story.add("Started", 0, workflow_run_id="r")
    story.add("StepStarted", 0, step_id="charge", step_type="http_request", step_name="Charge")
    story.add("StepCompleted", 1, step_id="charge", output={})
    story.add("StepStarted", 1, step_id="ship", step_type="http_request", step_name="Ship")
    execution = story.add(
        "CompensationStarted", 3, cause="failed", step_id="ship", reason="503", cancelled_by=None
    )
    assert execution.row["status"] == "compensating"
    assert execution.row["ended_at"] is None  # compensating is not an end
    story.add(
        "CompensationStepStarted",
        3,
        step_id="refund",
        step_type="http_request",
        step_name="Refund",
        compensation_of="charge",
    )
    execution = story.add("StepCompleted", 5, step_id="refund", output={})
    assert execution.row["status"] == "compensating"
    execution = story.add("Compensated", 6)
    assert (execution.row["status"], execution.row["duration_ms"]) == ("compensated", 6000.0)
    runs = {
        run["step_id"]: (run["status"], run["total_ms"]) for run in execution.changed_runs.values()
    }
    assert runs == {
        "charge": ("completed", 1000.0),
        "ship": ("failed", 2000.0),
        "refund": ("completed", 2000.0),
    }


def test_the_domain_says_what_an_event_without_a_branch_here_does() -> None:
    story = Story().started()
    run = {"step_id": "fix", "status": "waiting"}
    # A step outcome: the domain's StepFailed closes the step and leaves the execution running.
    assert domain_effect(
        story.event("StepFailed", 20, step_id="fix", error="x"), "waiting", run
    ) == (
        "running",
        "failed",
    )
    # An end: Failed closes the step it names and fails the execution.
    assert domain_effect(story.event("Failed", 20, step_id="fix", error="x"), "waiting", run) == (
        "failed",
        "failed",
    )
    # An event the domain does not have: the fallbacks (here the status it carries).
    assert domain_effect(story.event("Escalated", 20, status="escalated"), "waiting", None) == (
        "escalated",
        None,
    )


@pytest.mark.skipif(
    not hasattr(WorkflowExecution, "StepParked"), reason="the domain has no parked steps yet"
)
def test_a_parked_step_shows_as_needs_attention_with_its_run_ended_so() -> None:
    story = Story().started()
    story.add("StepCompleted", 20, step_id="fix", output={})
    story.add("StepStarted", 20, step_id="call", step_type="http_request", step_name="Call")
    execution = story.add("StepParked", 25, step_id="call", error="503")
    assert execution.row["status"] == "needs_attention"
    assert execution.row["ended_at"] is None  # an admin may still retry or skip it
    parked = [r for r in execution.changed_runs.values() if r["step_id"] == "call"]
    assert [(r["status"], r["total_ms"]) for r in parked] == [("needs_attention", 5000.0)]
    execution = story.add(
        "ParkedStepResolved", 90, step_id="call", action="retry", requested_by="u", reason=None
    )
    assert execution.row["status"] == "running"


def test_an_execution_stays_waiting_while_a_parallel_branch_still_waits() -> None:
    """Two branches wait; one finishes, then the other is stopped (a join of `any`): the
    execution waits until no branch does, as the executions read model shows it."""
    story = Story()
    story.add("Created", 0, definition_id=str(uuid.uuid4()), definition_version=1)
    story.add("Started", 0, workflow_run_id="r")
    for branch in ("legal", "finance"):
        story.add("StepStarted", 1, step_id=branch, step_type="wait_for_task", step_name=branch)
        story.add("Waiting", 1, step_id=branch, waiting_for="task", until=None, detail={})

    execution = story.add("StepCompleted", 5, step_id="legal", output={})
    assert execution.row["status"] == "waiting"

    execution = story.add("StepCancelled", 6, step_id="finance", reason="another branch ended")
    assert execution.row["status"] == "running"
    assert not execution.open_runs
