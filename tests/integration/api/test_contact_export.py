"""Data portability (GDPR Art. 20): ``GET /contacts/{id}/export`` over HTTP.

A contact whose execution sent an email (to a local SMTP server) and created a review task is
exported: the document holds the contact, the task, the execution with its email and step
timeline, and the events; the export itself is then in the contact's history with who did it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from interfaces.api.app import create_app
from projections.audit.export import contact_export
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem, new_org
from tests.integration.engine.servers import Endpoint, Mailbox, http_endpoint, smtp_server
from worker.main import build_worker

WELCOME: dict[str, Any] = {
    "name": "Welcome and review",
    "statuses": [],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "mail",
            "type": "send_email",
            "name": "Welcome mail",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome {{contact.first_name}}",
                "body": "Hello {{contact.first_name}}, we received your application.",
            },
        },
        {
            "id": "notify",
            "type": "http_request",
            "name": "Tell the CRM",
            "config": {
                "method": "POST",
                "url": "{{input.base}}/ok/applicants",
                "body": {"name": "{{contact.first_name}}"},
            },
        },
        {
            "id": "review",
            "type": "assign_task",
            "name": "Review",
            "config": {"title": "Review {{contact.first_name}}", "assign_to": "role:admin"},
        },
    ],
}


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with http_endpoint() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mail_stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,
    projector_running: None,
    smtp: tuple[str, Mailbox],
) -> AsyncIterator[Stack]:
    task_queue = f"export-{uuid.uuid4().hex[:8]}"
    services = build_services(module_database_url)
    app = create_app(
        api_settings(module_database_url, task_queue), temporal_client=temporal_env.client
    )
    worker = build_worker(
        temporal_env.client, services, task_queue, smtp_url=smtp[0], outbound=ALLOW_LOOPBACK
    )
    try:
        async with worker, serving(app) as http:
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()


async def _eventually(caller: Caller, path: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(path)
        if response.status_code == 200 and check(response.json()):
            return response.json()
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def _welcomed_contact(admin: Caller, base_url: str) -> tuple[str, str, str]:
    """A contact, and an execution for them that mailed them, called an HTTP endpoint with
    their name and created a task."""
    address = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    created = await admin.post(
        "/api/v1/contacts?wait=true", json={"first_name": "Ada", "email": address}
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    definition = await admin.post("/api/v1/definitions?wait=true", json=WELCOME)
    assert definition.status_code == 201, definition.text
    definition_id = definition.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    start = {"definition_id": definition_id, "contact_id": contact_id, "input": {"base": base_url}}
    started = await admin.post("/api/v1/executions", json=start)
    assert started.status_code == 202, started.text
    execution_id = started.json()["id"]
    await _eventually(
        admin, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == "completed"
    )
    await _eventually(
        admin, f"/api/v1/tasks?execution_id={execution_id}", lambda p: len(p["items"]) == 1
    )
    return contact_id, execution_id, address


async def _exports_of(caller: Caller, contact_id: str, count: int) -> list[dict[str, Any]]:
    """The contact's Contact.Exported events, once `count` of them are recorded."""
    path = f"/api/v1/events?aggregate_id={contact_id}&event_type=Contact.Exported"
    page = await _eventually(caller, path, lambda p: len(p["items"]) >= count)
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_an_export_holds_the_contact_its_task_execution_email_and_events(
    mail_stack: Stack, smtp: tuple[str, Mailbox], endpoint: Endpoint
) -> None:
    admin = mail_stack.caller("admin")
    contact_id, execution_id, address = await _welcomed_contact(admin, endpoint.url)
    assert smtp[1].to(address), "the execution's email reached the SMTP server"
    member = admin.as_role("member", user="exporter")

    response = await member.get(f"/api/v1/contacts/{contact_id}/export")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="contact-{contact_id}.json"'
    )
    document = response.json()
    assert document["contact_id"] == contact_id and document["org_id"] == admin.org
    assert document["generated_at"].endswith("+00:00")
    assert document["contact"]["email"] == address
    assert document["contact"]["first_name"] == "Ada"

    (task,) = document["tasks"]
    assert task["execution_id"] == execution_id  # it names the contact: linked_by "contact"
    assert task["read_model"]["contact_id"] == contact_id
    assert task["read_model"]["title"] == "Review Ada"

    (execution,) = document["executions"]
    assert execution["execution_id"] == execution_id
    assert execution["task_ids"] == [task["task_id"]]
    assert execution["read_model"]["status"] == "completed"
    steps = {s["step_id"] for s in execution["read_model"]["steps"]}
    assert steps >= {"mail", "notify", "review"}
    (email,) = execution["emails"]
    assert email["to"] == [address] and email["subject"] == "Welcome Ada"
    assert email["delivered"] is True and email["step_id"] == "mail"
    (call,) = execution["http_calls"]
    assert (call["method"], call["url"]) == ("POST", f"{endpoint.url}/ok/applicants")
    assert call["status_code"] == 200 and call["step_id"] == "notify" and call["error"] is None

    types = [e["event_type"] for e in document["events"]]
    assert "Contact.Created" in types
    assert "WorkflowExecution.EmailSent" in types and "Task.Assigned" in types
    assert "WorkflowExecution.HttpRequestMade" in types
    assert document["event_count"] == len(document["events"])
    assert document["truncated"] is False
    assert {e["aggregate_id"] for e in document["events"]} == {
        contact_id,
        execution_id,
        task["task_id"],
    }

    (exported,) = await _exports_of(admin, contact_id, 1)
    assert exported["data"]["format"] == "json"
    assert exported["metadata"]["actor"] is not None
    assert exported["data"]["actor"] == exported["metadata"]["actor"]
    assert "exporter" in exported["metadata"]["actor"]
    assert exported["metadata"]["workflow_type"] == "ContactCommandWorkflow"
    # The new event leaves the read model and the audit views as they were.
    history = await admin.get(f"/api/v1/aggregates/contact/{contact_id}/history")
    assert history.json()["items"][-1]["event_type"] == "Contact.Exported"
    state = await admin.get(f"/api/v1/aggregates/contact/{contact_id}/state")
    assert state.status_code == 200, state.text
    lineage = await admin.get(f"/api/v1/contacts/{contact_id}/lineage")
    assert "Contact.Exported" in [e["event_type"] for e in lineage.json()["events"]]
    contact = await admin.get(f"/api/v1/contacts/{contact_id}")
    assert contact.status_code == 200 and contact.json()["email"] == address
    patched = await admin.patch(f"/api/v1/contacts/{contact_id}?wait=true", json={"phone": "1"})
    assert patched.status_code == 200, patched.text


async def test_an_archived_contact_can_be_exported_and_each_export_is_recorded(
    stack: Stack,
) -> None:
    owner = stack.caller("owner")
    created = await owner.post("/api/v1/contacts?wait=true", json={"first_name": "Bo"})
    contact_id = created.json()["id"]
    archived = await owner.post(
        f"/api/v1/contacts/{contact_id}/archive?wait=true", json={"reason": "left"}
    )
    assert archived.status_code == 200, archived.text

    first = await owner.get(f"/api/v1/contacts/{contact_id}/export")
    second = await owner.as_role("admin", user="a2").get(f"/api/v1/contacts/{contact_id}/export")

    for response in (first, second):
        assert response.status_code == 200, response.text
        assert response.json()["contact"]["archived"] is True
        assert response.json()["tasks"] == [] and response.json()["executions"] == []
    exports = await _exports_of(owner, contact_id, 2)
    assert len(exports) == 2
    assert [e["metadata"]["actor"] for e in exports] == [e["data"]["actor"] for e in exports]
    assert "a2" in exports[1]["metadata"]["actor"]


async def test_exports_are_for_members_and_up_in_the_contacts_org(stack: Stack) -> None:
    member = stack.caller("member")
    created = await member.post("/api/v1/contacts?wait=true", json={"first_name": "Cy"})
    contact_id = created.json()["id"]

    forbidden = assert_problem(
        await member.as_role("viewer").get(f"/api/v1/contacts/{contact_id}/export"), 403
    )
    assert "viewer" in forbidden["detail"]
    stranger = stack.caller("admin", org=new_org())
    assert_problem(await stranger.get(f"/api/v1/contacts/{contact_id}/export"), 404)
    assert_problem(await member.get(f"/api/v1/contacts/{uuid.uuid4()}/export"), 404)
    assert_problem(await member.get("/api/v1/contacts/not-an-id/export"), 404)
    # Refused exports are not recorded: nothing was taken out.
    await asyncio.sleep(0.5)
    events = await member.get(
        f"/api/v1/events?aggregate_id={contact_id}&event_type=Contact.Exported"
    )
    assert events.json()["items"] == []


async def test_the_events_section_is_bounded_and_says_so(stack: Stack) -> None:
    member = stack.caller("member")
    created = await member.post("/api/v1/contacts?wait=true", json={"first_name": "Di"})
    contact_id = created.json()["id"]
    for n in range(3):
        changed = await member.patch(
            f"/api/v1/contacts/{contact_id}?wait=true", json={"last_name": f"L{n}"}
        )
        assert changed.status_code == 200, changed.text

    with psycopg.connect(stack.database_url, row_factory=dict_row, autocommit=True) as conn:
        document = contact_export(conn, member.org, contact_id, event_limit=2)

    assert document is not None
    assert document["event_count"] == 4 and document["truncated"] is True
    assert [e["event_type"] for e in document["events"]] == [
        "Contact.Created",
        "Contact.FieldsUpdated",
    ]
