"""The applicant onboarding of the README as a person runs it, entirely over HTTP.

A signed form submission creates the contact, the execution and the review task; the reviewer
completes the task with an outcome through ``PATCH /tasks/{id}``; the execution takes the right
branch, sets its status and sends the email, which a local SMTP server receives.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from domain.definition_library import APPLICANT_ONBOARDING
from interfaces.api.app import create_app
from interfaces.api.webhook_signing import sign
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, new_org
from tests.integration.engine.servers import Mailbox, smtp_server
from worker.main import build_worker


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mail_stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,
    projector_running: None,
    smtp: tuple[str, Mailbox],
) -> AsyncIterator[Stack]:
    task_queue = f"onboarding-{uuid.uuid4().hex[:8]}"
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


async def _submit(stack: Stack, definition: dict[str, Any], person: dict[str, str]) -> str:
    body = json.dumps(person).encode()
    response = await stack.client.post(
        f"/webhooks/{definition['id']}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Byte-Signature": sign(definition["webhook_secret"], int(time.time()), body),
        },
    )
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["id"]
    return execution_id


@pytest.mark.parametrize(
    ("outcome", "ui_status", "subject"),
    [
        ("approved", "approved", "Welcome aboard, Grace!"),
        ("rejected", "rejected", "Your application"),
    ],
)
async def test_a_form_submission_runs_to_the_reviewers_outcome_and_its_email(
    mail_stack: Stack, smtp: tuple[str, Mailbox], outcome: str, ui_status: str, subject: str
) -> None:
    org = new_org()
    admin = Caller(mail_stack.client, org, "admin", "hr-lead")
    reviewer = Caller(mail_stack.client, org, "admin", "reviewer-1")
    created = await admin.post("/api/v1/definitions?wait=true", json=APPLICANT_ONBOARDING)
    assert created.status_code == 201, created.text
    definition = created.json()
    activated = await admin.post(f"/api/v1/definitions/{definition['id']}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    email = f"grace.{outcome}.{uuid.uuid4().hex[:6]}@example.com"

    execution_id = await _submit(
        mail_stack, definition, {"first_name": "Grace", "last_name": "Hopper", "email": email}
    )

    waiting = await _eventually(
        admin, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == "waiting"
    )
    assert waiting["ui_status"] == "in_review"
    contact = (await admin.get(f"/api/v1/contacts/{waiting['contact_id']}")).json()
    assert (contact["first_name"], contact["email"]) == ("Grace", email)
    mine = await _eventually(
        reviewer,
        "/api/v1/me/tasks",
        lambda page: any(t["execution_id"] == execution_id for t in page["items"]),
    )
    (task,) = [t for t in mine["items"] if t["execution_id"] == execution_id]
    assert task["title"] == "Review Grace's Application"
    assert task["assigned_to"] == "role:admin"

    done = await reviewer.patch(
        f"/api/v1/tasks/{task['id']}?wait=true",
        json={"status": "done", "metadata": {"outcome": outcome}},
    )
    assert done.status_code == 200, done.text

    finished = await _eventually(
        admin, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == "completed"
    )
    assert finished["ui_status"] == ui_status
    branch = "step_6" if outcome == "approved" else "step_8"
    assert branch in [s["step_id"] for s in finished["steps"]]
    deadline = time.monotonic() + 10
    while not smtp[1].to(email) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    (message,) = smtp[1].to(email)
    assert message["Subject"] == subject
