"""Each step type on its own, through the real worker on the Temporal dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.metadata import CommandContext
from tests.integration.engine.servers import Endpoint, Mailbox
from tests.integration.engine.support import (
    definition,
    event_types,
    events,
    start,
    step,
    waiting_at,
)
from worker.contracts import NAMED_SIGNAL, NamedSignal
from worker.main import build_worker

CTX = CommandContext(org_id="org_e", command_id="reader")


def _execution(services: Services, execution_id: str) -> Any:
    return services.executions.get_execution(CTX, UUID(execution_id))


def _task(services: Services, task_id: str) -> Any:
    return services.tasks.get_task(CTX, UUID(task_id))


async def test_the_trigger_creates_the_contact_from_the_payload(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    body = definition(
        step("greet", "assign_task", title="Welcome {{contact.first_name}}", assign_to="role:hr"),
        trigger={
            "type": "form_submission",
            "contact": {
                "first_name": "{{payload.first_name}}",
                "email": "{{payload.email}}",
                "phone": "{{payload.phone}}",
                "fields.company": "{{payload.company}}",
            },
        },
    )
    payload = {"first_name": "Grace", "email": "grace@example.com", "company": "Navy"}
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload=payload, contact_from_trigger=True
    )

    result = await handle.result()

    assert result.status == "completed"
    execution = _execution(engine_services, execution_id)
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id))
    assert (contact.first_name, contact.email, contact.phone) == (
        "Grace",
        "grace@example.com",
        None,
    )
    assert contact.fields == {"company": "Navy"}
    assert execution.trigger["payload"] == payload
    assert execution.step_outputs["start"]["contact_id"] == execution.contact_id
    task = _task(engine_services, execution.step_outputs["greet"]["task"]["id"])
    assert task.title == "Welcome Grace"


async def test_a_contact_that_cannot_be_created_fails_the_execution_at_its_trigger(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    body = definition(step("s", "update_status", status="x"), statuses=["x"])
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, contact={"email": "not-an-address"}
    )

    result = await handle.result()

    assert result.status == "failed"
    assert result.step_id == "start"
    assert "not an email address" in (result.error or "")
    assert event_types(engine_db, execution_id) == [
        "Created",
        "Started",
        "StepStarted(start)",
        "Failed(start)",
    ]


async def test_assign_update_and_complete_task_change_the_task_the_step_assigned(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step(
            "assign",
            "assign_task",
            title="Review {{contact.first_name}}",
            description="Check the form",
            assign_to="role:admin",
            priority="low",
            due_date="{{now + 3 days}}",
            metadata={"form": "{{input.form}}"},
        ),
        step(
            "urgent",
            "update_task",
            task_from_step="assign",
            updates={
                "priority": "high",
                "assign_to": "user:boss",
                "due_date": "{{now + 1 day}}",
                "metadata": {"urgency": "critical"},
            },
        ),
        step("due", "set_due_date", task_from_step="assign", due_date="{{now + 2 days}}"),
        step(
            "close",
            "complete_task",
            task_from_step="assign",
            outcome="approved",
            metadata={"by": "engine"},
        ),
        step("wait", "wait_for_task", task_from_step="assign"),
    )
    before = datetime.now(UTC)
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, input={"form": "F-1"}
    )

    result = await handle.result()

    assert result.status == "completed"
    execution = _execution(engine_services, execution_id)
    assigned = execution.step_outputs["assign"]["task"]
    assert assigned["title"] == "Review Ada"
    assert assigned["assigned_to"] == "role:admin"
    assert assigned["metadata"] == {"form": "F-1"}
    task = _task(engine_services, assigned["id"])
    assert task.execution_id == execution_id
    assert task.step_id == "assign"
    assert task.contact_id == execution.contact_id
    assert (task.priority, task.assigned_to, task.status) == ("high", "user:boss", "done")
    assert task.metadata == {
        "form": "F-1",
        "urgency": "critical",
        "outcome": "approved",
        "by": "engine",
    }
    assert task.due_date is not None
    assert timedelta(days=2) <= task.due_date - before < timedelta(days=2, minutes=1)
    # The wait found the task already done: it did not wait, and says so.
    wait_output = execution.step_outputs["wait"]
    assert wait_output["task"]["status"] == "done"
    assert wait_output["task"]["metadata"]["outcome"] == "approved"
    assert wait_output["timed_out"] is False


async def test_update_contact_changes_the_contact_and_later_templates_see_it(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step(
            "edit",
            "update_contact",
            fields={"last_name": "Lovelace", "status": "applicant", "fields.score": 42},
        ),
        step("task", "assign_task", title="Call {{contact.last_name}}", assign_to="role:hr"),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    assert (await handle.result()).status == "completed"

    execution = _execution(engine_services, execution_id)
    contact = engine_services.contacts.get_contact(CTX, UUID(execution.contact_id))
    assert (contact.first_name, contact.last_name, contact.status) == (
        "Ada",
        "Lovelace",
        "applicant",
    )
    assert contact.fields == {"score": 42}
    assert execution.step_outputs["task"]["task"]["title"] == "Call Lovelace"


async def test_update_status_sets_the_ui_status_and_refuses_an_undeclared_one(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
) -> None:
    good = definition(
        step("review", "update_status", status="in_review"),
        step("approve", "update_status", status="{{input.verdict}}"),
        statuses=["in_review", "approved"],
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, good, input={"verdict": "approved"}
    )
    result = await handle.result()
    assert (result.status, result.ui_status) == ("completed", "approved")
    assert _execution(engine_services, execution_id).ui_status == "approved"
    changes = [
        (row["data"]["old_ui_status"], row["data"]["new_ui_status"])
        for row in events(engine_db, execution_id)
        if row["event_type"].endswith("UiStatusChanged")
    ]
    assert changes == [(None, "in_review"), ("in_review", "approved")]

    bad_id, bad = await start(temporal_env.client, engine_queue, good, input={"verdict": "nope"})
    failed = await bad.result()
    assert failed.status == "failed"
    assert failed.step_id == "approve"
    assert "'nope' is not one of the definition's statuses" in (failed.error or "")
    assert _execution(engine_services, bad_id).ui_status == "in_review"


async def test_a_template_that_cannot_resolve_fails_the_step_naming_it_and_the_expression(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step("task", "assign_task", title="For {{payload.applicant.name}}", assign_to="role:hr")
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"applicant": {}}
    )

    result = await handle.result()

    assert result.status == "failed"
    assert result.error is not None
    assert "Step 'task'" in result.error
    assert "{{payload.applicant.name}}" in result.error
    execution = _execution(engine_services, execution_id)
    assert execution.status == "failed"
    assert execution.error == result.error
    assert execution.step_history[-1]["status"] == "failed"


async def test_a_template_that_renders_a_value_of_the_wrong_kind_fails_the_step_naming_it(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step("task", "assign_task", title="Call", assign_to="role:hr", due_date="{{payload.when}}")
    )
    execution_id, handle = await start(
        temporal_env.client, engine_queue, body, payload={"when": "next week"}
    )

    result = await handle.result()

    assert result.status == "failed"
    assert result.error == (
        "Step 'task' (task): 'due_date' is 'next week', not an ISO-8601 date-time with a timezone."
    )
    assert _execution(engine_services, execution_id).step_history[-1]["status"] == "failed"


async def test_set_due_date_without_a_task_records_the_date_on_the_step(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(step("due", "set_due_date", due_date="2031-01-02T03:04:05+00:00"))
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    assert (await handle.result()).status == "completed"
    output = _execution(engine_services, execution_id).step_outputs["due"]
    assert output == {"due_date": "2031-01-02T03:04:05+00:00", "task_id": None}


async def test_send_email_delivers_over_smtp_and_records_it(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    mailbox: Mailbox,
) -> None:
    address = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    body = definition(
        step(
            "mail",
            "send_email",
            to="{{contact.email}}",
            cc=["hr@example.com"],
            subject="Welcome {{contact.first_name}}",
            body="Hello {{contact.first_name}}, your application {{input.ref}} arrived.",
        )
    )
    execution_id, handle = await start(
        temporal_env.client,
        engine_queue,
        body,
        contact={"first_name": "Ada", "email": address},
        input={"ref": "A-7"},
    )

    assert (await handle.result()).status == "completed"

    (message,) = mailbox.to(address)
    assert message["Subject"] == "Welcome Ada"
    assert message["Cc"] == "hr@example.com"
    assert "your application A-7 arrived" in str(message.get_payload())
    (sent,) = [r for r in events(engine_db, execution_id) if r["event_type"].endswith("EmailSent")]
    assert sent["data"]["to"] == [address, "hr@example.com"]
    assert sent["data"]["delivered"] is True
    assert sent["data"]["message_id"] == message["Message-ID"]
    output = _execution(engine_services, execution_id).step_outputs["mail"]
    assert output["delivered"] is True


async def test_send_email_without_smtp_is_recorded_as_not_delivered(
    temporal_env: WorkflowEnvironment, engine_services: Services, engine_db: str
) -> None:
    queue = f"no-smtp-{uuid.uuid4().hex[:8]}"
    body = definition(step("mail", "send_email", to="a@example.com", subject="Hi", body="Hi"))
    async with build_worker(temporal_env.client, engine_services, queue, outbound=ALLOW_LOOPBACK):
        execution_id, handle = await start(temporal_env.client, queue, body)
        assert (await handle.result()).status == "completed"
    (sent,) = [r for r in events(engine_db, execution_id) if r["event_type"].endswith("EmailSent")]
    assert (sent["data"]["delivered"], sent["data"]["error"]) == (False, None)


async def test_delay_waits_and_records_until_when(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(step("pause", "delay", seconds=1))
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    state = await waiting_at(handle, "pause")
    assert state.status == "waiting"
    assert state.waiting is not None and state.waiting.waiting_for == "delay"

    assert (await handle.result()).status == "completed"

    execution = _execution(engine_services, execution_id)
    (entry,) = [e for e in execution.step_history if e["step_id"] == "pause"]
    assert entry["waiting_for"] == "delay"
    started = datetime.fromisoformat(entry["started_at"])
    completed = datetime.fromisoformat(entry["completed_at"])
    assert completed - started >= timedelta(seconds=1)
    assert execution.step_outputs["pause"]["seconds"] == 1.0


def _branching() -> dict[str, Any]:
    return definition(
        step(
            "check",
            "condition",
            field="{{input.outcome}}",
            branches=[
                {"if": "approved", "then_goto": "yes"},
                {"if": 3, "then_goto": "three"},
                {"if": "rejected", "then_goto": "end"},
            ],
            default="other",
        ),
        step("yes", "update_status", status="approved", next_="end"),
        step("three", "update_status", status="three", next_="end"),
        step("other", "update_status", status="other"),
        statuses=["approved", "three", "other"],
    )


async def test_condition_follows_the_matching_branch_or_its_default(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    cases = [("approved", "approved"), ("3", "three"), (3, "three"), ("rejected", None)]
    cases.append(("unknown", "other"))
    for outcome, expected in cases:
        execution_id, handle = await start(
            temporal_env.client, engine_queue, _branching(), input={"outcome": outcome}
        )
        result = await handle.result()
        assert (result.status, result.ui_status) == ("completed", expected), outcome
        output = _execution(engine_services, execution_id).step_outputs["check"]
        assert output["value"] == outcome


async def test_a_condition_without_default_goes_on_to_the_next_step(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step("check", "condition", field="{{input.x}}", branches=[{"if": "a", "then_goto": "end"}]),
        step("after", "update_status", status="fell_through"),
        statuses=["fell_through"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body, input={"x": "b"})
    assert (await handle.result()).ui_status == "fell_through"
    output = _execution(engine_services, execution_id).step_outputs["check"]
    assert output == {"value": "b", "branch": "after", "matched": None}


async def test_wait_for_signal_passes_the_payload_on(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    body = definition(
        step("early", "wait_for_signal", signal="docs.received"),
        step("late", "wait_for_signal", signal="interview"),
        step(
            "use",
            "assign_task",
            title="Interview on {{late.payload.date}} about {{early.payload.kind}}",
            assign_to="role:hr",
        ),
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)
    # Sent before the execution reaches its step: kept until then.
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="docs.received", payload={"kind": "cv"}))
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="unrelated", payload={}))
    state = await waiting_at(handle, "late")
    assert state.waiting is not None and state.waiting.signal == "interview"
    assert state.pending_signals == {"unrelated": 1}
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="interview", payload={"date": "May 3"}))

    assert (await handle.result()).status == "completed"

    execution = _execution(engine_services, execution_id)
    assert execution.step_outputs["late"] == {
        "signal": "interview",
        "payload": {"date": "May 3"},
        "timed_out": False,
    }
    assert execution.step_outputs["use"]["task"]["title"] == "Interview on May 3 about cv"


async def test_wait_for_signal_times_out_as_its_on_timeout_says(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
) -> None:
    one_second = 1 / 3600
    go_on = definition(
        step(
            "wait", "wait_for_signal", signal="never", timeout_hours=one_second, on_timeout="late"
        ),
        step("skipped", "update_status", status="on_time", next_="end"),
        step("late", "update_status", status="late"),
        statuses=["on_time", "late"],
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, go_on)
    result = await handle.result()
    assert (result.status, result.ui_status) == ("completed", "late")
    output = _execution(engine_services, execution_id).step_outputs["wait"]
    assert output == {"signal": "never", "payload": {}, "timed_out": True}

    stop = definition(step("wait", "wait_for_signal", signal="never", timeout_hours=one_second))
    stopped_id, stopped = await start(temporal_env.client, engine_queue, stop)
    result = await stopped.result()
    assert (result.status, result.step_id) == ("timed_out", "wait")
    assert _execution(engine_services, stopped_id).status == "timed_out"


async def test_http_request_output_is_the_response_status_and_body(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    body = definition(
        step(
            "call",
            "http_request",
            method="POST",
            url="{{input.base}}/ok/applicants",
            headers={"X-Token": "{{input.token}}"},
            body={"name": "{{contact.first_name}}", "score": "{{input.score}}"},
        ),
        step(
            "check",
            "condition",
            field="{{call.body.json.name}}",
            branches=[{"if": "Ada", "then_goto": "end"}],
        ),
        step("unreached", "update_status", status="wrong"),
        statuses=["wrong"],
    )
    execution_id, handle = await start(
        temporal_env.client,
        engine_queue,
        body,
        input={"base": endpoint.url, "token": "t0k", "score": 9},
    )

    result = await handle.result()

    assert (result.status, result.ui_status) == ("completed", None)
    output = _execution(engine_services, execution_id).step_outputs["call"]
    assert output["status"] == 200
    assert output["body"] == {
        "ok": True,
        "method": "POST",
        "json": {"name": "Ada", "score": 9},
        "token": "t0k",
    }
    assert output["headers"]["content-type"] == "application/json"
    (made,) = [
        r["data"]
        for r in events(engine_db, execution_id)
        if r["event_type"].endswith("HttpRequestMade")
    ]
    assert (made["method"], made["status_code"], made["error"]) == ("POST", 200, None)
    assert made["url"] == f"{endpoint.url}/ok/applicants"


async def test_http_request_retries_a_5xx_until_it_succeeds(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    key = uuid.uuid4().hex
    endpoint.failures[key] = 2
    body = definition(
        step(
            "call",
            "http_request",
            method="GET",
            url=f"{endpoint.url}/flaky/{key}",
            retries=3,
            backoff_seconds=0.1,
        )
    )
    execution_id, handle = await start(temporal_env.client, engine_queue, body)

    assert (await handle.result()).status == "completed"

    assert endpoint.hits[f"/flaky/{key}"] == 3
    attempts = [
        (r["data"]["status_code"], r["data"]["error"])
        for r in events(engine_db, execution_id)
        if r["event_type"].endswith("HttpRequestMade")
    ]
    assert attempts == [(503, "HTTP 503"), (503, "HTTP 503"), (200, None)]
    output = _execution(engine_services, execution_id).step_outputs["call"]
    assert output["body"] == {"ok": True, "attempt": 3}


async def test_http_request_fails_at_once_on_a_4xx_and_after_its_retries_on_a_5xx(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    engine_services: Services,
    engine_db: str,
    endpoint: Endpoint,
) -> None:
    for status, retries, expected_attempts in ((404, 3, 1), (500, 1, 2)):
        url = f"{endpoint.url}/status/{status}"
        body = definition(
            step(
                "call",
                "http_request",
                method="DELETE",
                url=url,
                retries=retries,
                backoff_seconds=0.1,
            )
        )
        execution_id, handle = await start(temporal_env.client, engine_queue, body)

        result = await handle.result()

        assert (result.status, result.step_id) == ("failed", "call")
        assert f"DELETE {url} answered {status}" in (result.error or "")
        made = [
            r["data"]["status_code"]
            for r in events(engine_db, execution_id)
            if r["event_type"].endswith("HttpRequestMade")
        ]
        assert made == [status] * expected_attempts
        execution = _execution(engine_services, execution_id)
        assert execution.status == "failed"
        assert execution.step_history[-1]["step_id"] == "call"
        assert execution.step_history[-1]["status"] == "failed"
