from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import InvalidTransitionError, InvalidValueError
from domain.task import Task
from tests.unit.domain.support import at, rebuilt


def new_task(**overrides: Any) -> Task:
    arguments: dict[str, Any] = {
        "task_id": uuid4(),
        "org_id": "org_1",
        "title": "Review Ada's Application",
        "assigned_to": "role:admin",
        "at": at(),
    }
    arguments.update(overrides)
    task = Task.assign(**arguments)
    return task


def workflow_task() -> Task:
    return new_task(
        execution_id=str(uuid4()),
        step_id="step_2",
        contact_id=str(uuid4()),
        due_date=at(3 * 24 * 60),
        metadata={"source": "workflow"},
        description="Approve or reject",
        priority="high",
    )


def test_an_assigned_task_starts_todo_with_its_defaults() -> None:
    task = new_task()
    assert task.status == "todo"
    assert task.priority == "medium"
    assert task.description is None
    assert task.due_date is None
    assert task.completed_at is None
    assert task.metadata == {}
    assert task.org_id == "org_1"
    (assigned,) = task.collect_events()
    assert isinstance(assigned, Task.Assigned)
    assert assigned.status == "todo"
    assert assigned.timestamp == at()


def test_a_workflow_task_remembers_its_execution_step_and_contact() -> None:
    task = workflow_task()
    assert task.execution_id is not None
    assert task.step_id == "step_2"
    assert task.contact_id is not None
    assert task.due_date == at(3 * 24 * 60)
    (assigned,) = task.collect_events()
    assert isinstance(assigned, Task.Assigned)
    assert assigned.due_date == "2025-03-06T09:00:00+00:00"


def test_due_dates_are_stored_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    task = new_task(due_date=at().astimezone(plus_two))
    (assigned,) = task.collect_events()
    assert isinstance(assigned, Task.Assigned)
    assert assigned.due_date == "2025-03-03T09:00:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"assigned_to": "admin"}, "assigned_to"),
        ({"assigned_to": "user:"}, "assigned_to"),
        ({"assigned_to": "role:"}, "assigned_to"),
        ({"assigned_to": "role:the admins"}, "assigned_to"),
        ({"assigned_to": "team:admin"}, "assigned_to"),
        ({"priority": "critical"}, "priority"),
        ({"step_id": "step_2"}, "step_id"),
        ({"due_date": at().replace(tzinfo=None)}, "due_date"),
        ({"metadata": {"when": at()}}, "metadata.when"),
    ],
)
def test_invalid_assignments_are_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_task(**overrides)
    assert caught.value.field == field


def test_a_title_of_exactly_500_characters_is_accepted() -> None:
    assert len(new_task(title="x" * 500).title) == 500


@pytest.mark.parametrize("assignee", ["user:user_2abc", "role:admin", "role:hr-team"])
def test_user_and_role_assignees_are_accepted(assignee: str) -> None:
    assert new_task(assigned_to=assignee).assigned_to == assignee


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["in_progress"], True),
        (["done"], True),
        (["cancelled"], True),
        (["in_progress", "todo"], True),
        (["in_progress", "done"], True),
        (["in_progress", "cancelled"], True),
        (["done", "todo"], True),
        (["done", "in_progress"], True),
        (["done", "cancelled"], False),
        (["cancelled", "todo"], False),
        (["cancelled", "in_progress"], False),
        (["cancelled", "done"], False),
    ],
)
def test_status_transitions(path: list[str], allowed: bool) -> None:
    task = new_task()
    *before, last = path
    for index, status in enumerate(before):
        task.change_status(status=status, at=at(index + 1))
    if allowed:
        assert task.change_status(status=last, at=at(10)) is True
        assert task.status == last
    else:
        with pytest.raises(InvalidTransitionError):
            task.change_status(status=last, at=at(10))
        assert task.status == before[-1]


def test_completing_a_cancelled_task_is_refused() -> None:
    task = new_task()
    task.change_status(status="cancelled", at=at(1))
    with pytest.raises(InvalidTransitionError) as caught:
        task.change_status(status="done", at=at(2))
    assert caught.value.message == f"task {task.id} is cancelled; it cannot become done."


def test_an_unknown_status_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_task().change_status(status="finished", at=at(1))
    assert caught.value.field == "status"


def test_completion_sets_completed_at_to_the_event_time_and_reopening_clears_it() -> None:
    task = new_task()
    task.collect_events()
    task.change_status(status="done", at=at(30))
    assert task.completed_at == at(30)
    task.change_status(status="in_progress", at=at(40))
    assert task.completed_at is None
    done, reopened = task.collect_events()
    assert isinstance(done, Task.StatusChanged)
    assert isinstance(reopened, Task.StatusChanged)
    assert done.completed_at == "2025-03-03T09:30:00+00:00"
    assert reopened.completed_at is None


def test_status_metadata_is_merged_into_the_task_and_kept_in_the_event() -> None:
    task = workflow_task()
    task.collect_events()
    task.change_status(status="done", metadata={"outcome": "approved"}, at=at(5))
    assert task.metadata == {"source": "workflow", "outcome": "approved"}
    (event,) = task.collect_events()
    assert isinstance(event, Task.StatusChanged)
    assert event.metadata == {"outcome": "approved"}
    assert (event.old_status, event.new_status) == ("todo", "done")


def test_the_same_status_emits_nothing_even_with_metadata() -> None:
    task = new_task()
    task.collect_events()
    assert task.change_status(status="todo", metadata={"outcome": "x"}, at=at(1)) is False
    assert task.collect_events() == []
    assert task.metadata == {}


def test_an_update_records_only_changed_fields_and_merges_metadata() -> None:
    task = workflow_task()
    task.collect_events()
    changed = task.update(
        changes={"priority": "urgent", "title": task.title, "metadata": {"urgency": "critical"}},
        at=at(1),
    )
    assert changed is True
    (event,) = task.collect_events()
    assert isinstance(event, Task.Updated)
    assert event.changes == {
        "priority": {"old": "high", "new": "urgent"},
        "metadata": {
            "old": {"source": "workflow"},
            "new": {"source": "workflow", "urgency": "critical"},
        },
    }
    assert task.priority == "urgent"
    assert task.metadata == {"source": "workflow", "urgency": "critical"}


def test_an_update_that_changes_nothing_emits_nothing() -> None:
    task = new_task()
    task.collect_events()
    assert task.update(changes={"title": task.title, "priority": "medium"}, at=at(1)) is False
    assert task.collect_events() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "done"}, "status"),
        ({"assigned_to": "role:hr"}, "assigned_to"),
        ({"title": ""}, "title"),
        ({"priority": "p1"}, "priority"),
        ({"metadata": "x"}, "metadata"),
    ],
)
def test_invalid_updates_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_task().update(changes=changes, at=at(1))
    assert caught.value.field == field


def test_reassigning_records_old_and_new_assignee() -> None:
    task = new_task()
    task.collect_events()
    assert task.reassign(assigned_to="user:42", at=at(1)) is True
    assert task.reassign(assigned_to="user:42", at=at(2)) is False
    (event,) = task.collect_events()
    assert isinstance(event, Task.Reassigned)
    assert (event.old_assigned_to, event.new_assigned_to) == ("role:admin", "user:42")
    with pytest.raises(InvalidValueError):
        task.reassign(assigned_to="42", at=at(3))


def test_setting_and_clearing_the_due_date() -> None:
    task = new_task()
    task.collect_events()
    assert task.set_due_date(due_date=at(60), at=at(1)) is True
    assert task.set_due_date(due_date=at(60), at=at(2)) is False
    assert task.due_date == at(60)
    assert task.set_due_date(due_date=None, at=at(3)) is True
    assert task.due_date is None
    first, cleared = task.collect_events()
    assert isinstance(first, Task.DueDateSet)
    assert isinstance(cleared, Task.DueDateSet)
    assert (first.old_due_date, first.new_due_date) == (None, "2025-03-03T10:00:00+00:00")
    assert (cleared.old_due_date, cleared.new_due_date) == ("2025-03-03T10:00:00+00:00", None)


def test_a_cancelled_task_cannot_be_edited_reassigned_or_rescheduled() -> None:
    task = new_task()
    task.change_status(status="cancelled", at=at(1))
    with pytest.raises(InvalidTransitionError):
        task.update(changes={"title": "New"}, at=at(2))
    with pytest.raises(InvalidTransitionError):
        task.reassign(assigned_to="user:1", at=at(2))
    with pytest.raises(InvalidTransitionError):
        task.set_due_date(due_date=at(100), at=at(2))
    assert task.change_status(status="cancelled", at=at(3)) is False


def test_a_done_task_can_still_be_edited() -> None:
    task = new_task()
    task.change_status(status="done", at=at(1))
    assert task.update(changes={"description": "Closed with notes"}, at=at(2)) is True


def test_a_task_rebuilt_from_json_events_is_identical() -> None:
    task = workflow_task()
    task.update(changes={"metadata": {"list": [1, {"a": None}]}, "priority": "low"}, at=at(1))
    task.change_status(status="done", metadata={"outcome": "approved"}, at=at(2))
    task.change_status(status="todo", at=at(3))
    task.reassign(assigned_to="user:7", at=at(4))
    task.set_due_date(due_date=at(500), at=at(5))
    copy = rebuilt(task)
    assert copy == task
    assert copy.metadata == task.metadata
    assert copy.due_date == at(500)
    assert copy.change_status(status="done", at=at(6)) is True
