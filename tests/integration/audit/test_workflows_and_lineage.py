"""Event ↔ workflow traceability, and a contact's whole lineage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from application.bundle import Services
from application.services import TaskDraft
from domain.contact import Contact
from domain.steps import StepRef, Wait
from projections.audit import contact_lineage, workflow_events, workflow_summary
from projections.audit.lineage import LINKED_TO_CONTACT, TASKS_OF_EXECUTIONS
from tests.integration.audit.support import MONDAY, Story, activity, onboarding

Conn = psycopg.Connection[Any]


@pytest.fixture
def story(services: Services) -> Story:
    story = onboarding(services, "org_a")
    onboarding(services, "org_b")
    return story


def test_a_workflows_events_are_the_ones_it_caused_in_order(story: Story, conn: Conn) -> None:
    events = workflow_events(conn, "org_a", story.execution_workflow)

    assert len(events) == 14
    assert {e["metadata"]["workflow_id"] for e in events} == {story.execution_workflow}
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert events[6]["event_type"] == "Task.Assigned"  # the review task it created
    assert workflow_events(conn, "org_b", story.execution_workflow) == []
    assert workflow_events(conn, "org_a", "no-such-workflow") == []


def test_an_execution_workflows_summary(story: Story, conn: Conn) -> None:
    summary = workflow_summary(conn, "org_a", story.execution_workflow)

    assert summary is not None
    assert summary["workflow_type"] == "ExecutionWorkflow"
    assert summary["run_ids"] == ["run-1"]
    assert summary["event_count"] == 14
    assert summary["event_counts"] == {
        "WorkflowExecution.Created": 1,
        "WorkflowExecution.Started": 1,
        "WorkflowExecution.StepStarted": 4,
        "WorkflowExecution.StepCompleted": 4,
        "Task.Assigned": 1,
        "WorkflowExecution.Waiting": 1,
        "WorkflowExecution.UiStatusChanged": 1,
        "WorkflowExecution.Completed": 1,
    }
    assert next(iter(summary["event_counts"])) == "WorkflowExecution.Created"  # first seen first
    assert summary["first_event"]["event_type"] == "WorkflowExecution.Created"
    assert summary["last_event"]["event_type"] == "WorkflowExecution.Completed"
    started = datetime.fromisoformat(summary["first_occurred_at"])
    ended = datetime.fromisoformat(summary["last_occurred_at"])
    assert started > MONDAY and summary["duration_seconds"] == (ended - started).total_seconds()
    assert summary["duration_seconds"] > 0
    assert [
        (a["aggregate_type"], a["aggregate_id"], a["event_count"]) for a in summary["aggregates"]
    ] == [
        ("workflow_execution", str(story.execution_id), 13),
        ("task", str(story.task_id), 1),
    ]
    assert summary["outcome"] == {
        "kind": "execution",
        "execution_id": str(story.execution_id),
        "status": "completed",
        "terminal": True,
        "event": {
            "event_type": "WorkflowExecution.Completed",
            "position": summary["last_event"]["position"],
            "occurred_at": summary["last_occurred_at"],
        },
    }


def test_a_running_execution_reports_its_current_state(services: Services, conn: Conn) -> None:
    execution_id = uuid.uuid4()
    workflow = f"execution-{execution_id}"

    def step(name: str, run_id: str = "run-1") -> Any:
        return activity("org_a", workflow, "ExecutionWorkflow", run_id=run_id, activity_id=name)

    services.executions.begin(
        step("begin"),
        execution_id,
        definition_id="d",
        definition_version=1,
        workflow_id=workflow,
        workflow_run_id="run-1",
        contact_id=None,
        input={},
        trigger={"type": "manual"},
        trigger_step=StepRef("step_1", "trigger", "Started by hand"),
        trigger_output={},
    )
    # continue-as-new: the same workflow id, a second run, which starts a week's delay
    services.executions.record_step(
        step("s2", "run-2"),
        execution_id,
        StepRef("step_2", "delay", "Wait a week"),
        wait=Wait("delay"),
    )

    summary = workflow_summary(conn, "org_a", workflow)

    assert summary is not None
    assert summary["run_ids"] == ["run-1", "run-2"]
    assert [r["event_count"] for r in summary["runs"]] == [4, 2]
    assert summary["outcome"]["status"] == "waiting" and summary["outcome"]["terminal"] is False


def test_a_command_workflows_summary(story: Story, conn: Conn) -> None:
    summary = workflow_summary(conn, "org_a", story.task_workflow)

    assert summary is not None
    assert summary["workflow_type"] == "TaskCommandWorkflow"
    assert summary["event_counts"] == {"Task.StatusChanged": 1}
    assert summary["duration_seconds"] == 0
    assert summary["actors"] == ["user:bob"]
    assert summary["outcome"]["kind"] == "command"
    assert summary["outcome"]["status"] == "completed"


def test_no_summary_for_a_workflow_of_another_org_or_none(story: Story, conn: Conn) -> None:
    assert workflow_summary(conn, "org_b", story.execution_workflow) is None
    assert workflow_summary(conn, "org_a", "nope") is None


def test_a_contacts_lineage_gathers_its_executions_tasks_and_workflows(
    story: Story, conn: Conn
) -> None:
    lineage = contact_lineage(conn, "org_a", story.contact_id)

    assert lineage is not None
    events = lineage["events"]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert lineage["event_count"] == len(events) == 1 + 13 + 2 + 1
    assert {e["metadata"]["org_id"] for e in events} == {"org_a"}
    assert {e["aggregate_id"] for e in events} == {
        str(story.contact_id),
        str(story.execution_id),
        str(story.task_id),
        str(story.loose_task_id),
    }  # not Grace, nor Grace's task

    assert lineage["contact"]["positions"] == [positions[0]]
    (execution,) = lineage["executions"]
    assert execution["execution_id"] == str(story.execution_id)
    assert execution["workflow_id"] == story.execution_workflow
    assert execution["task_ids"] == [str(story.task_id)]
    assert len(execution["positions"]) == 13
    assert [(t["task_id"], t["linked_by"]) for t in lineage["tasks"]] == [
        (str(story.task_id), "contact"),
        (str(story.loose_task_id), "contact"),
    ]
    workflows = {w["workflow_id"]: w for w in lineage["workflows"]}
    assert set(workflows) == {
        story.contact_workflow,
        story.execution_workflow,
        story.task_workflow,
    }
    assert workflows[story.execution_workflow]["workflow_type"] == "ExecutionWorkflow"
    grouped = sorted(
        lineage["contact"]["positions"]
        + execution["positions"]
        + [p for t in lineage["tasks"] for p in t["positions"]]
    )
    assert grouped == positions  # every event in exactly one group


def test_a_task_created_by_an_execution_without_naming_the_contact_still_belongs(
    services: Services, conn: Conn
) -> None:
    story = onboarding(services)
    step = activity("org_a", story.execution_workflow, "ExecutionWorkflow")
    extra = services.tasks.assign_task(
        step,
        TaskDraft(
            title="Check references",
            assigned_to="role:hr",
            execution_id=str(story.execution_id),
            step_id="step_9",
        ),
    )

    lineage = contact_lineage(conn, "org_a", story.contact_id)

    assert lineage is not None
    linked = {t["task_id"]: t["linked_by"] for t in lineage["tasks"]}
    assert linked[str(extra)] == "execution"
    # A title is personal data of the task's contact, sealed in the store: the lineage shows
    # it opened (the extra task names no contact, so its title is stored in clear).
    titles = {t["task_id"]: t["title"] for t in lineage["tasks"]}
    assert titles == {
        str(story.task_id): "Review Ada",
        str(story.loose_task_id): "Call Ada",
        str(extra): "Check references",
    }
    (execution,) = lineage["executions"]
    assert execution["task_ids"] == [str(story.task_id), str(extra)]


def test_no_lineage_for_another_orgs_contact_or_an_unknown_id(story: Story, conn: Conn) -> None:
    assert contact_lineage(conn, "org_b", story.contact_id) is None
    assert contact_lineage(conn, "org_a", story.task_id) is None  # a task is not a contact
    assert contact_lineage(conn, "org_a", "not-an-id") is None


def test_lineage_lookups_use_the_reference_indexes(
    story: Story, services: Services, conn: Conn
) -> None:
    at = datetime.now(UTC)
    busy = Contact.create(
        contact_id=uuid.uuid4(),
        org_id="org_a",
        first_name="Busy",
        last_name=None,
        email=None,
        phone=None,
        at=at,
    )
    for i in range(3_000):
        busy.update(changes={"phone": str(i)}, at=at)
    services.contacts.save(busy, metadata=activity("org_a", "bulk", "Bulk").stamped(at))
    conn.execute("ANALYZE events")

    for query, params, index in (
        (LINKED_TO_CONTACT, ("org_a", str(story.contact_id)), "events_contact_ref_idx"),
        (TASKS_OF_EXECUTIONS, ("org_a", [str(story.execution_id)]), "events_execution_ref_idx"),
    ):
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {query}".encode(), params))
        assert index in plan, plan
