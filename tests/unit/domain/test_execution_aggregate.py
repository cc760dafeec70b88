from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import InvalidTransitionError, InvalidValueError
from domain.execution import WorkflowExecution
from tests.unit.domain.support import at, rebuilt


def new_execution() -> WorkflowExecution:
    return WorkflowExecution.create(
        execution_id=uuid4(),
        org_id="org_1",
        definition_id=str(uuid4()),
        definition_version=2,
        contact_id=str(uuid4()),
        input={"source": "form"},
        workflow_id="execution-123",
        trigger={"type": "form_submission", "payload": {"email": "ada@example.com"}},
        at=at(),
    )


def running() -> WorkflowExecution:
    execution = new_execution()
    execution.start(workflow_run_id="run-1", at=at(1))
    return execution


def with_open_step(step_id: str = "step_2") -> WorkflowExecution:
    execution = running()
    execution.start_step(step_id=step_id, step_type="assign_task", step_name="Assign", at=at(2))
    return execution


def test_a_new_execution_is_pending_and_remembers_its_definition_version() -> None:
    execution = new_execution()
    assert execution.status == "pending"
    assert execution.org_id == "org_1"
    assert execution.definition_version == 2
    assert execution.workflow_id == "execution-123"
    assert execution.workflow_run_id is None
    assert execution.ui_status is None
    assert execution.current_step_id is None
    assert execution.step_history == []
    assert execution.input == {"source": "form"}
    assert execution.trigger["type"] == "form_submission"


def test_definition_version_must_be_a_positive_whole_number() -> None:
    with pytest.raises(InvalidValueError) as caught:
        WorkflowExecution.create(
            execution_id=uuid4(),
            org_id="o",
            definition_id="d",
            definition_version=0,
            contact_id=None,
            input=None,
            workflow_id="w",
            trigger=None,
            at=at(),
        )
    assert caught.value.field == "definition_version"


def test_starting_records_the_run_id() -> None:
    execution = running()
    assert execution.status == "running"
    assert execution.workflow_run_id == "run-1"
    assert execution.started_at == at(1).isoformat()


def test_a_second_start_is_refused() -> None:
    execution = running()
    with pytest.raises(InvalidTransitionError) as caught:
        execution.start(workflow_run_id="run-2", at=at(2))
    assert caught.value.message == f"execution {execution.id} already started."


@pytest.mark.parametrize(
    "command",
    [
        lambda e: e.start_step(step_id="s", step_type="delay", step_name="Pause", at=at(1)),
        lambda e: e.complete(output={}, at=at(1)),
        lambda e: e.record_email(
            step_id="s",
            to=["a@b.c"],
            subject="S",
            delivered=True,
            message_id=None,
            error=None,
            at=at(1),
        ),
    ],
)
def test_steps_before_start_are_refused(command: Callable[[WorkflowExecution], Any]) -> None:
    execution = new_execution()
    with pytest.raises(InvalidTransitionError) as caught:
        command(execution)
    assert "has not started" in caught.value.message


def test_a_pending_execution_can_still_be_cancelled_or_failed() -> None:
    cancelled = new_execution()
    cancelled.cancel(reason="duplicate submission", cancelled_by="user:1", at=at(1))
    assert cancelled.status == "cancelled"
    failed = new_execution()
    failed.fail(step_id=None, error="definition could not be loaded", at=at(1))
    assert failed.status == "failed"


def test_a_step_moves_through_the_history_with_its_times_and_output() -> None:
    execution = with_open_step()
    assert execution.current_step_id == "step_2"
    execution.complete_step(step_id="step_2", output={"task": {"id": "t1"}}, at=at(3))
    (entry,) = execution.step_history
    assert entry == {
        "step_id": "step_2",
        "step_type": "assign_task",
        "step_name": "Assign",
        "status": "completed",
        "started_at": at(2).isoformat(),
        "completed_at": at(3).isoformat(),
        "output": {"task": {"id": "t1"}},
        "error": None,
        "waiting_for": None,
        "until": None,
    }
    assert execution.step_outputs == {"step_2": {"task": {"id": "t1"}}}
    assert execution.status == "running"


def test_waiting_marks_the_execution_and_the_step_as_waiting() -> None:
    execution = with_open_step("step_3")
    execution.wait(
        step_id="step_3",
        waiting_for="task",
        until=at(7 * 24 * 60),
        detail={"task_id": "t1"},
        at=at(3),
    )
    assert execution.status == "waiting"
    assert execution.step_history[0]["status"] == "waiting"
    assert execution.step_history[0]["until"] == at(7 * 24 * 60).isoformat()
    assert execution.waiting == {
        "step_id": "step_3",
        "waiting_for": "task",
        "until": at(7 * 24 * 60).isoformat(),
        "detail": {"task_id": "t1"},
    }
    execution.complete_step(step_id="step_3", output={"task": {"status": "done"}}, at=at(9))
    assert execution.status == "running"
    assert execution.waiting is None
    assert execution.step_history[0]["status"] == "completed"


def test_waiting_for_something_unknown_is_refused() -> None:
    execution = with_open_step()
    with pytest.raises(InvalidValueError) as caught:
        execution.wait(step_id="step_2", waiting_for="godot", until=None, detail=None, at=at(3))
    assert caught.value.field == "waiting_for"


def test_completing_a_step_that_is_not_running_is_refused() -> None:
    execution = with_open_step()
    with pytest.raises(InvalidTransitionError):
        execution.complete_step(step_id="step_9", output={}, at=at(3))
    execution.complete_step(step_id="step_2", output={}, at=at(3))
    with pytest.raises(InvalidTransitionError):
        execution.complete_step(step_id="step_2", output={}, at=at(4))


def test_a_failed_step_keeps_the_execution_running_for_the_engine_to_decide() -> None:
    execution = with_open_step()
    execution.fail_step(step_id="step_2", error="SMTP refused", at=at(3))
    assert execution.status == "running"
    entry = execution.step_history[0]
    assert (entry["status"], entry["error"]) == ("failed", "SMTP refused")
    assert entry["completed_at"] == at(3).isoformat()


def test_a_step_that_runs_twice_has_two_history_entries() -> None:
    execution = with_open_step()
    execution.complete_step(step_id="step_2", output={"n": 1}, at=at(3))
    execution.start_step(step_id="step_2", step_type="assign_task", step_name="Assign", at=at(4))
    execution.complete_step(step_id="step_2", output={"n": 2}, at=at(5))
    assert [entry["output"] for entry in execution.step_history] == [{"n": 1}, {"n": 2}]
    assert execution.step_outputs["step_2"] == {"n": 2}


def test_an_unknown_step_type_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        running().start_step(step_id="x", step_type="teleport", step_name="X", at=at(2))
    assert caught.value.field == "step_type"


def test_ui_status_changes_only_when_it_differs() -> None:
    execution = running()
    execution.collect_events()
    assert execution.change_ui_status(step_id="step_5", ui_status="approved", at=at(2)) is True
    assert execution.change_ui_status(step_id="step_5", ui_status="approved", at=at(3)) is False
    (event,) = execution.collect_events()
    assert isinstance(event, WorkflowExecution.UiStatusChanged)
    assert (event.old_ui_status, event.new_ui_status) == (None, "approved")
    assert execution.ui_status == "approved"


def test_side_effects_are_recorded_with_what_was_sent() -> None:
    execution = with_open_step("step_6")
    execution.collect_events()
    execution.record_email(
        step_id="step_6",
        to=["ada@example.com"],
        subject="Welcome",
        delivered=False,
        message_id=None,
        error="SMTP not configured",
        at=at(3),
    )
    execution.record_http_request(
        step_id="step_6",
        method="post",
        url="https://x.example",
        status_code=200,
        duration_ms=12,
        error=None,
        at=at(4),
    )
    execution.record_reminder(
        step_id="step_6",
        task_id="t1",
        recipient="role:admin",
        count=2,
        message="Please review",
        at=at(5),
    )
    email, http, reminder = execution.collect_events()
    assert isinstance(email, WorkflowExecution.EmailSent)
    assert (email.to, email.delivered, email.error) == (
        ["ada@example.com"],
        False,
        "SMTP not configured",
    )
    assert isinstance(http, WorkflowExecution.HttpRequestMade)
    assert (http.method, http.status_code, http.duration_ms) == ("POST", 200, 12.0)
    assert isinstance(reminder, WorkflowExecution.ReminderSent)
    assert (reminder.count, reminder.recipient) == (2, "role:admin")
    assert execution.reminders_sent == {"step_6": 2}


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (
            lambda e: e.record_reminder(
                step_id="s", task_id=None, recipient="r", count=0, message="m", at=at(3)
            ),
            "count",
        ),
        (
            lambda e: e.record_http_request(
                step_id="s",
                method="GET",
                url="https://x",
                status_code=None,
                duration_ms=-1,
                error="t",
                at=at(3),
            ),
            "duration_ms",
        ),
        (
            lambda e: e.record_email(
                step_id="s",
                to=[],
                subject="S",
                delivered=True,
                message_id=None,
                error=None,
                at=at(3),
            ),
            "to",
        ),
    ],
)
def test_invalid_side_effect_records_are_refused(
    command: Callable[[WorkflowExecution], Any], field: str
) -> None:
    with pytest.raises(InvalidValueError) as caught:
        command(running())
    assert caught.value.field == field


def test_completing_records_the_output() -> None:
    execution = with_open_step()
    execution.complete_step(step_id="step_2", output={}, at=at(3))
    execution.complete(output={"result": "approved"}, at=at(4))
    assert execution.status == "completed"
    assert execution.is_terminal
    assert execution.output == {"result": "approved"}
    assert execution.finished_at == at(4).isoformat()


def test_failing_closes_the_failing_step() -> None:
    execution = with_open_step()
    execution.fail(step_id="step_2", error="task service down", at=at(3))
    assert execution.status == "failed"
    assert execution.error == "task service down"
    assert execution.step_history[0]["status"] == "failed"


def test_timing_out_closes_the_waiting_step() -> None:
    execution = with_open_step("step_3")
    execution.wait(step_id="step_3", waiting_for="signal", until=at(60), detail=None, at=at(3))
    execution.time_out(step_id="step_3", reason="no signal within 1 hour", at=at(63))
    assert execution.status == "timed_out"
    assert execution.waiting is None
    assert execution.step_history[0]["status"] == "failed"
    assert execution.step_history[0]["error"] == "no signal within 1 hour"


TERMINATE: list[Callable[[WorkflowExecution], Any]] = [
    lambda e: e.complete(output={}, at=at(5)),
    lambda e: e.fail(step_id=None, error="boom", at=at(5)),
    lambda e: e.cancel(reason="stopped by admin", cancelled_by="user:1", at=at(5)),
    lambda e: e.time_out(step_id=None, reason="too slow", at=at(5)),
]
AFTERWARDS: list[Callable[[WorkflowExecution], Any]] = [
    lambda e: e.start(workflow_run_id="run-2", at=at(6)),
    lambda e: e.start_step(step_id="s", step_type="delay", step_name="P", at=at(6)),
    lambda e: e.complete_step(step_id="step_2", output={}, at=at(6)),
    lambda e: e.fail_step(step_id="step_2", error="x", at=at(6)),
    lambda e: e.wait(step_id="step_2", waiting_for="task", until=None, detail=None, at=at(6)),
    lambda e: e.change_ui_status(step_id=None, ui_status="x", at=at(6)),
    lambda e: e.record_reminder(
        step_id="s", task_id=None, recipient="r", count=1, message="m", at=at(6)
    ),
    lambda e: e.record_email(
        step_id="s",
        to=["a@b.c"],
        subject="S",
        delivered=True,
        message_id=None,
        error=None,
        at=at(6),
    ),
    lambda e: e.record_http_request(
        step_id="s",
        method="GET",
        url="https://x",
        status_code=200,
        duration_ms=1,
        error=None,
        at=at(6),
    ),
    *TERMINATE,
]


@pytest.mark.parametrize("terminate", TERMINATE)
@pytest.mark.parametrize("command", AFTERWARDS)
def test_nothing_happens_after_a_terminal_state(
    terminate: Callable[[WorkflowExecution], Any], command: Callable[[WorkflowExecution], Any]
) -> None:
    execution = with_open_step()
    terminate(execution)
    state = execution.status
    version = execution.version
    with pytest.raises(InvalidTransitionError) as caught:
        command(execution)
    assert state in caught.value.message
    assert execution.version == version


def test_an_execution_rebuilt_from_json_events_is_identical() -> None:
    execution = with_open_step("step_2")
    execution.complete_step(
        step_id="step_2", output={"task": {"id": "t1", "tags": ["a"]}}, at=at(3)
    )
    execution.start_step(step_id="step_3", step_type="wait_for_task", step_name="Wait", at=at(4))
    execution.wait(step_id="step_3", waiting_for="task", until=at(600), detail={"n": 1}, at=at(5))
    execution.record_reminder(
        step_id="step_3", task_id="t1", recipient="role:admin", count=1, message="Nudge", at=at(6)
    )
    execution.complete_step(step_id="step_3", output={"task": {"status": "done"}}, at=at(7))
    execution.change_ui_status(step_id="step_5", ui_status="approved", at=at(8))
    execution.start_step(step_id="step_6", step_type="send_email", step_name="Mail", at=at(9))
    execution.record_email(
        step_id="step_6",
        to=["a@b.c"],
        subject="S",
        delivered=True,
        message_id="<m1>",
        error=None,
        at=at(10),
    )
    execution.record_http_request(
        step_id="step_6",
        method="GET",
        url="https://x",
        status_code=None,
        duration_ms=3.5,
        error="timeout",
        at=at(11),
    )
    execution.fail_step(step_id="step_6", error="bounced", at=at(12))
    execution.cancel(reason="withdrawn", cancelled_by=None, at=at(13))
    copy = rebuilt(execution)
    assert copy == execution
    assert copy.step_history == execution.step_history
    assert copy.status == "cancelled"
    with pytest.raises(InvalidTransitionError):
        copy.complete(output={}, at=at(14))
