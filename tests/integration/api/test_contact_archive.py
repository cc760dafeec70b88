"""``POST /contacts/{id}/archive``: archiving a contact over HTTP, as a command like PATCH, and
the `record_deleted` definitions it starts."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from interfaces.triggers import TemporalStarter, TriggerFollower
from projections import Projector
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, events_of
from tests.integration.engine.over_http.support import activate, body, ended, output, step


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triggers(stack: Stack, temporal_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """The record-trigger follower, as `bytedash projector` runs it."""
    stop = threading.Event()
    address = str(temporal_env.client.service_client.config.target_host)
    starter = TemporalStarter(address, "default", stack.task_queue)

    def follow() -> None:
        with Projector(stack.database_url, [TriggerFollower(starter)], poll_interval=0.2) as p:
            p.run_forever(stop)

    thread = threading.Thread(target=follow, name="archive-route-triggers", daemon=True)
    thread.start()
    yield
    stop.set()
    await asyncio.to_thread(thread.join, 10)
    starter.close()


async def _contact(caller: Caller, **fields: Any) -> dict[str, Any]:
    created = await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Ada", **fields})
    assert created.status_code == 201, created.text
    contact: dict[str, Any] = created.json()
    return contact


def _archive(contact_id: str, wait: bool = False) -> str:
    return f"/api/v1/contacts/{contact_id}/archive" + ("?wait=true" if wait else "")


async def test_archive_with_wait_answers_200_with_the_archived_contact(stack: Stack) -> None:
    caller = stack.caller("member")
    contact = await _contact(caller, email="ada@example.com")

    response = await caller.post(_archive(contact["id"], wait=True), json={"reason": "left"})

    assert response.status_code == 200, response.text
    archived = response.json()
    assert archived["id"] == contact["id"]
    assert archived["archived"] is True
    assert archived["archived_reason"] == "left"
    assert archived["email"] == "ada@example.com"
    assert archived["version"] > contact["version"]
    assert (await caller.get(f"/api/v1/contacts/{contact['id']}")).json() == archived
    listed = await caller.get("/api/v1/contacts?archived=true")
    assert [c["id"] for c in listed.json()["items"]] == [contact["id"]]
    recorded = await asyncio.to_thread(events_of, stack.database_url, contact["id"])
    assert [e["event_type"] for e in recorded] == ["Contact.Created", "Contact.Archived"]
    assert recorded[1]["workflow_id"].startswith(f"contact-archive-{contact['id']}-")
    assert recorded[1]["actor"] == "user:u1"
    assert recorded[1]["source"] == "api"


async def test_archive_without_wait_answers_202_and_the_read_model_follows(stack: Stack) -> None:
    caller = stack.caller("member")
    contact = await _contact(caller)

    response = await caller.post(_archive(contact["id"]), json={"reason": "duplicate"})

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["id"] == contact["id"]
    assert response.headers["Location"] == accepted["status_url"]
    fate = await caller.get(accepted["status_url"])
    assert fate.status_code == 200, fate.text
    assert fate.json()["status"] == "succeeded"
    assert fate.json()["resource"]["url"] == f"/api/v1/contacts/{contact['id']}"
    deadline = time.monotonic() + 10
    while not (shown := (await caller.get(f"/api/v1/contacts/{contact['id']}")).json())["archived"]:
        assert time.monotonic() < deadline, shown
        await asyncio.sleep(0.05)
    assert shown["archived_reason"] == "duplicate"


async def test_an_archived_contact_refuses_archiving_and_changes_with_409(stack: Stack) -> None:
    caller = stack.caller("member")
    contact = await _contact(caller)
    first = await caller.post(_archive(contact["id"], wait=True), json={"reason": "first"})
    assert first.status_code == 200, first.text

    again = await caller.post(_archive(contact["id"], wait=True), json={"reason": "second"})

    problem = assert_problem(again, 409)
    assert "archived" in problem["detail"]
    assert problem["workflow_id"].startswith(f"contact-archive-{contact['id']}-")
    patched = await caller.patch(f"/api/v1/contacts/{contact['id']}", json={"first_name": "B"})
    assert_problem(patched, 409)
    shown = (await caller.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert (shown["archived_reason"], shown["first_name"]) == ("first", "Ada")
    recorded = await asyncio.to_thread(events_of, stack.database_url, contact["id"])
    assert [e["event_type"] for e in recorded] == ["Contact.Created", "Contact.Archived"]


async def test_a_repeated_idempotency_key_archives_once_and_answers_the_same(
    stack: Stack,
) -> None:
    caller = stack.caller("member")
    contact = await _contact(caller)
    headers = {"Idempotency-Key": "archive-ada-1"}

    first = await caller.post(_archive(contact["id"]), json={"reason": "gone"}, headers=headers)
    second = await caller.post(_archive(contact["id"]), json={"reason": "gone"}, headers=headers)
    other = await caller.post(_archive(contact["id"]), json={"reason": "else"}, headers=headers)

    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json() == second.json()
    reused = assert_problem(other, 422)
    assert reused["errors"][0]["field"] == "Idempotency-Key"
    recorded = await asyncio.to_thread(events_of, stack.database_url, contact["id"])
    assert [e["event_type"] for e in recorded] == ["Contact.Created", "Contact.Archived"]


async def test_unknown_contacts_and_other_orgs_contacts_are_404(stack: Stack) -> None:
    caller = stack.caller("member")
    theirs = await _contact(stack.caller("member"))

    for contact_id in (str(uuid.uuid4()), "not-a-uuid", theirs["id"]):
        response = await caller.post(_archive(contact_id, wait=True), json={"reason": "x"})
        assert_problem(response, 404)
    shown = await stack.caller("member", org=theirs["org_id"]).get(
        f"/api/v1/contacts/{theirs['id']}"
    )
    assert shown.json()["archived"] is False


async def test_the_reason_is_required_non_blank_and_bounded(stack: Stack) -> None:
    caller = stack.caller("member")
    contact = await _contact(caller)

    for sent, field in (
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 1001}, "reason"),
        ({"reason": None}, "reason"),
        ({"reason": "ok", "note": "extra"}, "note"),
    ):
        response = await caller.post(_archive(contact["id"]), json=sent)
        problem = assert_problem(response, 422)
        assert [e["field"] for e in problem["errors"]] == [field], (sent, problem)
    no_body = await caller.post(_archive(contact["id"]))
    assert_problem(no_body, 422)
    longest = await caller.post(_archive(contact["id"], wait=True), json={"reason": "x" * 1000})
    assert longest.status_code == 200, longest.text


async def test_viewers_may_not_archive_members_admins_and_owners_may(stack: Stack) -> None:
    member = stack.caller("member")
    contact = await _contact(member)

    refused = await member.as_role("viewer").post(_archive(contact["id"]), json={"reason": "x"})

    assert_problem(refused, 403)
    assert (await member.get(f"/api/v1/contacts/{contact['id']}")).json()["archived"] is False
    for role in ("admin", "owner"):
        another = await _contact(member)
        done = await member.as_role(role).post(
            _archive(another["id"], wait=True), json={"reason": role}
        )
        assert done.status_code == 200, done.text


async def test_archiving_over_http_starts_the_record_deleted_definitions(
    stack: Stack, triggers: None
) -> None:
    admin = stack.caller("admin")
    watcher = await activate(
        admin,
        body(
            step("why", "transform", expressions={"reason": "payload.reason"}),
            trigger={"type": "record_deleted"},
        ),
    )
    on_update = await activate(admin, body(trigger={"type": "record_updated"}))
    contact = await _contact(admin)

    archived = await admin.post(_archive(contact["id"], wait=True), json={"reason": "moved away"})
    assert archived.status_code == 200, archived.text

    deadline = time.monotonic() + 20
    while not (
        items := (await admin.get(f"/api/v1/executions?definition_id={watcher}")).json()["items"]
    ):
        assert time.monotonic() < deadline, "no record_deleted execution started"
        await asyncio.sleep(0.2)
    (started,) = items
    fired = await ended(admin, started["id"])
    assert fired["status"] == "completed", fired["error"]
    assert fired["contact_id"] == contact["id"]
    assert fired["trigger"]["type"] == "record_deleted"
    assert fired["trigger"]["event_type"] == "Contact.Archived"
    assert output(fired, "why") == {"reason": "moved away"}
    # Archiving is not an update: the record_updated definition stays quiet, and one archive
    # starts one execution.
    await asyncio.sleep(1.0)
    assert (await admin.get(f"/api/v1/executions?definition_id={on_update}")).json()["items"] == []
    assert (
        len((await admin.get(f"/api/v1/executions?definition_id={watcher}")).json()["items"]) == 1
    )
