"""Erasing a person (crypto-shredding) over HTTP, on real Postgres and Temporal.

A contact with a unique marker in every personal field runs through an execution that mails
them, calls an endpoint with their name, gives a reviewer a task titled with their name, and
the reviewer completes it with an outcome; the contact's fields are edited once more. After
`POST /contacts/{id}/erase`, every read shows the personal fields as erased, no table of the
database holds any marker, the hash chain still verifies, and the read models rebuild and
verify equal.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from domain.personal import ERASED
from interfaces.api.app import create_app
from interfaces.events_cli import verify
from projections.admin import rebuild_projection, verify_projection
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem, error_fields, new_org
from tests.integration.engine.servers import Endpoint, Mailbox, http_endpoint, smtp_server
from worker.main import build_worker

REVIEW: dict[str, Any] = {
    "name": "Mail, call and review",
    "statuses": [],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "mail",
            "type": "send_email",
            "name": "Welcome mail",
            "config": {
                "to": "{{contact.email}}",
                "subject": "Welcome {{contact.first_name}} {{contact.last_name}}",
                "body": "Hello {{contact.first_name}}.",
            },
        },
        {
            "id": "notify",
            "type": "http_request",
            "name": "Tell the CRM",
            "config": {
                "method": "POST",
                "url": "{{input.base}}/ok/{{contact.last_name}}",
                "body": {"name": "{{contact.first_name}}", "phone": "{{contact.phone}}"},
            },
        },
        {
            "id": "review",
            "type": "assign_task",
            "name": "Review",
            "config": {
                "title": "Review {{contact.first_name}} {{contact.last_name}}",
                "description": "Call {{contact.phone}} about {{input.note}}",
                "assign_to": "role:admin",
            },
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
async def stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,
    projector_running: None,
    smtp: tuple[str, Mailbox],
) -> AsyncIterator[Stack]:
    task_queue = f"erase-{uuid.uuid4().hex[:8]}"
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


def _markers() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        name: f"{name}{tag}"
        for name in ("first", "last", "phone", "company", "note", "outcome", "later")
    } | {"email": f"mail{tag}@example.com"}


def _as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _tables_holding(database_url: str, markers: list[str]) -> dict[str, list[str]]:
    """Every base table of the database, every column as text (bytea decoded), searched for
    the markers: {table: [markers found]}."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchall()
            text = "\n".join(_as_text(value) for row in rows for value in row)
            hits = [marker for marker in markers if marker in text]
            if hits:
                found[f"{schema}.{table}"] = hits
    return found


async def _reviewed_contact(
    admin: Caller, base_url: str, marks: dict[str, str]
) -> tuple[str, str, str]:
    """The contact with a marker in every personal field, its execution (mail, call, task)
    and the task, completed with an outcome; the contact edited once more."""
    created = await admin.post(
        "/api/v1/contacts?wait=true",
        json={
            "first_name": marks["first"],
            "last_name": marks["last"],
            "email": marks["email"],
            "phone": marks["phone"],
            "fields": {"company": marks["company"]},
        },
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    definition = await admin.post("/api/v1/definitions?wait=true", json=REVIEW)
    assert definition.status_code == 201, definition.text
    definition_id = definition.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    started = await admin.post(
        "/api/v1/executions",
        json={
            "definition_id": definition_id,
            "contact_id": contact_id,
            "input": {"base": base_url, "note": marks["note"]},
        },
    )
    assert started.status_code == 202, started.text
    execution_id = started.json()["id"]
    await _eventually(
        admin, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == "completed"
    )
    page = await _eventually(
        admin, f"/api/v1/tasks?execution_id={execution_id}", lambda p: len(p["items"]) == 1
    )
    task_id = page["items"][0]["id"]
    assert marks["first"] in page["items"][0]["title"]
    done = await admin.patch(
        f"/api/v1/tasks/{task_id}?wait=true",
        json={"status": "done", "metadata": {"outcome": marks["outcome"]}},
    )
    assert done.status_code == 200, done.text
    edited = await admin.patch(
        f"/api/v1/contacts/{contact_id}?wait=true",
        json={"fields": {"referrer": marks["later"]}},
    )
    assert edited.status_code == 200, edited.text
    return contact_id, execution_id, task_id


async def test_an_erased_person_leaves_no_plaintext_and_the_history_still_verifies(
    stack: Stack, smtp: tuple[str, Mailbox], endpoint: Endpoint
) -> None:
    owner = stack.caller("owner")
    marks = _markers()
    contact_id, execution_id, task_id = await _reviewed_contact(owner, endpoint.url, marks)
    assert smtp[1].to(marks["email"])
    # Before: the reads show the person, and no table holds them readable but the read models.
    before = await owner.get(f"/api/v1/contacts/{contact_id}")
    assert before.json()["first_name"] == marks["first"]
    history = await owner.get(f"/api/v1/aggregates/contact/{contact_id}/history")
    assert history.json()["items"][0]["data"]["email"] == marks["email"]
    holding = _tables_holding(stack.database_url, list(marks.values()))
    assert "public.events" not in holding and set(holding) <= {
        "public.contacts",
        "public.tasks",
        "public.executions",
    }, holding

    erased = await owner.post(
        f"/api/v1/contacts/{contact_id}/erase?wait=true", json={"reason": "asked on 2 Dec"}
    )

    assert erased.status_code == 200, erased.text
    contact = erased.json()
    for name in ("first_name", "last_name", "email", "phone"):
        assert contact[name] == ERASED
    assert contact["fields"] == {"company": ERASED, "referrer": ERASED}
    task = await _eventually(owner, f"/api/v1/tasks/{task_id}", lambda t: t["title"] == ERASED)
    assert task["description"] == ERASED and task["metadata"] == {"outcome": ERASED}
    assert task["status"] == "done"  # the facts stay
    execution = await _eventually(
        owner, f"/api/v1/executions/{execution_id}", lambda e: e["input"]["note"] == ERASED
    )
    assert execution["status"] == "completed" and execution["input"]["base"] == ERASED
    assert [s["step_id"] for s in execution["steps"]] == ["start", "mail", "notify", "review"]

    # The history, past states, lineage, the NDJSON stream and the export show the erasure.
    items = (await owner.get(f"/api/v1/aggregates/contact/{contact_id}/history")).json()["items"]
    assert items[0]["data"]["first_name"] == ERASED and items[0]["data"]["status"] == "active"
    last = items[-1]
    assert last["event_type"] == "Contact.Erased"
    assert last["data"] | {"timestamp": None} == {
        "erased_by": "user:u1",
        "reason": "asked on 2 Dec",
        "timestamp": None,
    }
    first_version = await owner.get(f"/api/v1/aggregates/contact/{contact_id}/state?version=1")
    assert first_version.json()["email"] == ERASED
    lineage = await owner.get(f"/api/v1/contacts/{contact_id}/lineage")
    streamed = await owner.get(
        f"/api/v1/events?aggregate_id={execution_id}",
        headers={"Accept": "application/x-ndjson"},
    )
    export = await owner.get(f"/api/v1/contacts/{contact_id}/export")
    for answer in (lineage, streamed, export):
        assert answer.status_code == 200, answer.text
        assert not [m for m in marks.values() if m in answer.text], answer.text
        assert ERASED in answer.text
    emails = [
        json.loads(line)
        for line in streamed.text.splitlines()
        if json.loads(line)["event_type"] == "WorkflowExecution.EmailSent"
    ]
    assert emails[0]["data"]["to"] == [ERASED] and emails[0]["data"]["delivered"] is True

    # No table holds any marker: the events hold ciphertext under a destroyed key.
    await asyncio.sleep(0.5)  # the other read models (stats) catch up
    assert _tables_holding(stack.database_url, list(marks.values())) == {}

    # The chain covers what is stored, so it verifies as before.
    out = io.StringIO()
    assert verify(stack.database_url, out, None), out.getvalue()
    # The read models rebuild from the events and verify equal to the live ones.
    for name in ("contacts", "tasks", "executions"):
        report = await asyncio.to_thread(verify_projection, stack.database_url, name)
        assert report.ok, report
    rebuilt = await asyncio.to_thread(rebuild_projection, stack.database_url, "contacts")
    assert rebuilt.outcome == "done", rebuilt
    again = await owner.get(f"/api/v1/contacts/{contact_id}")
    assert again.json()["email"] == ERASED
    assert _tables_holding(stack.database_url, list(marks.values())) == {}


async def test_erasing_is_for_owners_and_admins_with_a_reason_once(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = await admin.post("/api/v1/contacts?wait=true", json={"first_name": "Eve"})
    contact_id = created.json()["id"]
    path = f"/api/v1/contacts/{contact_id}/erase"

    missing = assert_problem(await admin.post(path, json={}), 422)
    assert "reason" in error_fields(missing)
    assert_problem(await admin.post(path, json={"reason": "  "}), 422)
    forbidden = assert_problem(await admin.as_role("member").post(path, json={"reason": "x"}), 403)
    assert "erase" in forbidden["detail"]
    stranger = stack.caller("owner", org=new_org())
    assert_problem(await stranger.post(path, json={"reason": "x"}), 404)
    assert_problem(
        await admin.post(f"/api/v1/contacts/{uuid.uuid4()}/erase", json={"reason": "x"}), 404
    )
    assert_problem(await admin.post("/api/v1/contacts/nope/erase", json={"reason": "x"}), 404)
    unchanged = await admin.get(f"/api/v1/contacts/{contact_id}")
    assert unchanged.json()["first_name"] == "Eve"

    done = await admin.post(f"{path}?wait=true", json={"reason": "asked"})
    assert done.status_code == 200, done.text
    assert done.json()["first_name"] == ERASED
    again = assert_problem(await admin.post(f"{path}?wait=true", json={"reason": "again"}), 409)
    assert "erased" in again["detail"]
    # An erased contact no longer changes.
    patched = await admin.patch(f"/api/v1/contacts/{contact_id}?wait=true", json={"phone": "1"})
    assert_problem(patched, 409)
