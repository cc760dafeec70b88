"""Starting, signalling and cancelling executions over HTTP, and signed webhooks."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from interfaces.api.webhook_signing import derive_secret, sign
from tests.integration.api.conftest import Stack
from tests.integration.api.support import WEBHOOK_KEY, Caller, assert_problem
from tests.integration.api.test_definitions import DEFINITION
from worker.contracts import definition_schedule_id

SIGNAL_FLOW: dict[str, Any] = {
    "name": "Wait for a go-ahead",
    "statuses": [{"id": "cleared", "label": "Cleared"}],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "go",
            "type": "wait_for_signal",
            "name": "Wait for go",
            "config": {"signal": "go", "timeout_days": 3, "on_timeout": "fail"},
        },
        {
            "id": "mark",
            "type": "update_status",
            "name": "Cleared",
            "config": {"status": "cleared"},
        },
    ],
}


async def _definition(admin: Caller, body: dict[str, Any], activate: bool = True) -> dict[str, Any]:
    created = await admin.post("/api/v1/definitions?wait=true", json=body)
    assert created.status_code == 201, created.text
    content: dict[str, Any] = created.json()
    if activate:
        activated = await admin.post(f"/api/v1/definitions/{content['id']}/activate?wait=true")
        assert activated.status_code == 200, activated.text
    return content


async def _eventually(caller: Caller, path: str, check: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(path)
        if response.status_code == 200 and check(response.json()):
            body: dict[str, Any] = response.json()
            return body
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


def _signed(secret: str, body: bytes, *, at: int | None = None) -> dict[str, str]:
    return {
        "X-Byte-Signature": sign(secret, at if at is not None else int(time.time()), body),
        "Content-Type": "application/json",
    }


# -- webhooks ----------------------------------------------------------------------------------


async def test_a_form_definition_answers_once_with_its_webhook_secret(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = await admin.post("/api/v1/definitions", json=DEFINITION)
    assert created.status_code == 202, created.text
    body = created.json()

    assert body["webhook_secret"] == derive_secret(WEBHOOK_KEY, body["id"], 1)
    assert body["webhook_url"] == f"/webhooks/{body['id']}"
    shown = await _eventually(admin, f"/api/v1/definitions/{body['id']}", lambda d: True)
    assert "webhook_secret" not in json.dumps(shown)
    manual = await admin.post("/api/v1/definitions", json=SIGNAL_FLOW)
    assert "webhook_secret" not in manual.json()


async def test_a_signed_submission_starts_one_execution_and_a_repeat_gets_its_ids(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    secret = definition["webhook_secret"]
    url = f"/webhooks/{definition['id']}"
    body = json.dumps({"first_name": "Grace", "email": "grace@example.com"}).encode()
    headers = {**_signed(secret, body), "X-Byte-Delivery": f"dlv-{uuid.uuid4()}"}

    first = await stack.client.post(url, content=body, headers=headers)
    again = await stack.client.post(url, content=body, headers=headers)

    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    ids = first.json()
    assert again.json() == {**ids, "duplicate": True}
    execution = await _eventually(
        admin, f"/api/v1/executions/{ids['id']}", lambda e: e["status"] == "waiting"
    )
    assert execution["workflow_id"] == ids["workflow_id"]
    contact = (await admin.get(f"/api/v1/contacts/{execution['contact_id']}")).json()
    assert contact["first_name"] == "Grace"
    tasks = (await admin.get(f"/api/v1/tasks?execution_id={ids['id']}")).json()["items"]
    assert [t["title"] for t in tasks] == ["Review Grace"]

    # Without a delivery id, the same body twice is the same delivery.
    plain = json.dumps({"first_name": "Linus"}).encode()
    one = await stack.client.post(url, content=plain, headers=_signed(secret, plain))
    two = await stack.client.post(url, content=plain, headers=_signed(secret, plain))
    assert (one.status_code, two.status_code) == (202, 200)
    assert two.json()["id"] == one.json()["id"]


async def test_a_url_encoded_form_post_is_accepted(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    body = urlencode({"first_name": "Ada", "email": "ada@example.com"}).encode()
    headers = {
        "X-Byte-Signature": sign(definition["webhook_secret"], int(time.time()), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = await stack.client.post(
        f"/webhooks/{definition['id']}", content=body, headers=headers
    )
    assert response.status_code == 202, response.text
    execution = await _eventually(
        admin, f"/api/v1/executions/{response.json()['id']}", lambda e: e["contact_id"]
    )
    contact = (await admin.get(f"/api/v1/contacts/{execution['contact_id']}")).json()
    assert contact["first_name"] == "Ada"


async def test_bad_missing_stale_and_tampered_signatures_answer_401(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    secret = definition["webhook_secret"]
    url = f"/webhooks/{definition['id']}"
    body = b'{"first_name": "Mallory"}'
    cases = {
        "missing": {"Content-Type": "application/json"},
        "malformed": {"X-Byte-Signature": "sha256=abc", "Content-Type": "application/json"},
        "wrong secret": _signed("whsec_not-the-secret", body),
        "stale": _signed(secret, body, at=int(time.time()) - 301),
        "future": _signed(secret, body, at=int(time.time()) + 301),
        "other definition": _signed(derive_secret(WEBHOOK_KEY, str(uuid.uuid4()), 1), body),
    }
    for case, headers in cases.items():
        response = await stack.client.post(url, content=body, headers=headers)
        assert response.status_code == 401, (case, response.text)
        assert_problem(response, 401)
    tampered = await stack.client.post(
        url, content=b'{"first_name": "Eve"}', headers=_signed(secret, body)
    )
    assert_problem(tampered, 401)
    listed = (await admin.get(f"/api/v1/executions?definition_id={definition['id']}")).json()
    assert listed["items"] == []


async def test_webhooks_to_unknown_inactive_or_non_webhook_definitions_are_refused(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    inactive = await _definition(admin, DEFINITION, activate=False)
    manual = await _definition(admin, SIGNAL_FLOW)
    body = b'{"first_name": "Ada"}'

    unknown = await stack.client.post(
        f"/webhooks/{uuid.uuid4()}", content=body, headers=_signed("x", body)
    )
    assert_problem(unknown, 404)
    not_a_webhook = await stack.client.post(
        f"/webhooks/{manual['id']}", content=body, headers=_signed("x", body)
    )
    assert_problem(not_a_webhook, 404)
    off = await stack.client.post(
        f"/webhooks/{inactive['id']}",
        content=body,
        headers=_signed(inactive["webhook_secret"], body),
    )
    assert_problem(off, 409)
    active = await _definition(admin, DEFINITION)
    not_an_object = b"[1, 2]"
    listed = await stack.client.post(
        f"/webhooks/{active['id']}",
        content=not_an_object,
        headers=_signed(active["webhook_secret"], not_an_object),
    )
    assert_problem(listed, 422)


# -- execution commands ------------------------------------------------------------------------


async def test_start_signal_and_finish_an_execution(stack: Stack) -> None:
    admin = stack.caller("admin")
    member = admin.as_role("member", user="m1")
    definition = await _definition(admin, SIGNAL_FLOW)

    started = await member.post(
        "/api/v1/executions?wait=true",
        json={
            "definition_id": definition["id"],
            "contact": {"first_name": "Ada"},
            "input": {"ref": 7},
        },
    )
    assert started.status_code == 201, started.text
    execution = started.json()
    assert execution["definition_version"] == 1
    assert execution["input"] == {"ref": 7}
    path = f"/api/v1/executions/{execution['id']}"
    await _eventually(member, path, lambda e: e["status"] == "waiting")

    signalled = await member.post(f"{path}/signals/go", json={"by": "m1"})
    assert signalled.status_code == 202, signalled.text
    done = await _eventually(member, path, lambda e: e["status"] == "completed")
    assert done["ui_status"] == "cleared"
    assert_problem(await member.post(f"{path}/cancel"), 409)


async def test_cancelling_an_execution_records_who_and_why(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, SIGNAL_FLOW)
    started = await admin.post(
        "/api/v1/executions",
        json={"definition_id": definition["id"], "contact": {"first_name": "Bo"}},
    )
    assert started.status_code == 202, started.text
    path = f"/api/v1/executions/{started.json()['id']}"
    await _eventually(admin, path, lambda e: e["status"] == "waiting")

    cancelled = await admin.post(f"{path}/cancel", json={"reason": "duplicate application"})
    assert cancelled.status_code == 202, cancelled.text
    final = await _eventually(admin, path, lambda e: e["status"] == "cancelled")
    assert "duplicate application" in (final["error"] or "")


async def test_execution_commands_are_refused_clearly(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, SIGNAL_FLOW)
    inactive = await _definition(admin, SIGNAL_FLOW, activate=False)
    start = {"definition_id": definition["id"]}

    assert_problem(await admin.as_role("viewer").post("/api/v1/executions", json=start), 403)
    off = await admin.post("/api/v1/executions", json={"definition_id": inactive["id"]})
    assert_problem(off, 409)
    missing = await admin.post("/api/v1/executions", json={"definition_id": str(uuid.uuid4())})
    assert_problem(missing, 422)
    no_contact = await admin.post(
        "/api/v1/executions", json={**start, "contact_id": str(uuid.uuid4())}
    )
    assert_problem(no_contact, 422)
    assert_problem(await admin.post("/api/v1/executions", json={**start, "x": 1}), 422)

    started = await admin.post("/api/v1/executions", json=start)
    path = f"/api/v1/executions/{started.json()['id']}"
    stranger = stack.caller("admin")
    assert_problem(await stranger.post(f"{path}/signals/go", json={}), 404)
    assert_problem(await stranger.post(f"{path}/cancel"), 404)
    assert_problem(await admin.post(f"{path}/signals/bad name!", json={}), 422)
    assert_problem(await admin.post(f"/api/v1/executions/{uuid.uuid4()}/cancel"), 404)
    other_org_definition = await stranger.post("/api/v1/executions", json=start)
    assert_problem(other_org_definition, 422)


async def test_a_definition_copy_keeps_its_own_version(stack: Stack) -> None:
    """Running executions keep the version they started with when a new one is published."""
    admin = stack.caller("admin")
    definition = await _definition(admin, SIGNAL_FLOW)
    started = await admin.post(
        "/api/v1/executions?wait=true", json={"definition_id": definition["id"]}
    )
    assert started.status_code == 201, started.text
    second = copy.deepcopy(SIGNAL_FLOW)
    second["steps"][1]["config"]["signal"] = "proceed"
    published = await admin.put(f"/api/v1/definitions/{definition['id']}?wait=true", json=second)
    assert published.status_code == 200, published.text

    path = f"/api/v1/executions/{started.json()['id']}"
    await _eventually(admin, path, lambda e: e["status"] == "waiting")
    await admin.post(f"{path}/signals/go", json={})
    done = await _eventually(admin, path, lambda e: e["status"] == "completed")
    assert done["definition_version"] == 1


# -- templates ---------------------------------------------------------------------------------


async def test_templates_are_listed_and_instantiated_into_definitions(stack: Stack) -> None:
    admin = stack.caller("admin")
    listed = await admin.as_role("viewer").get("/api/v1/templates")
    assert listed.status_code == 200, listed.text
    keys = {t["key"] for t in listed.json()["items"]}
    assert {"applicant_onboarding", "employee_onboarding", "background_check"} <= keys

    made = await admin.post(
        "/api/v1/templates/applicant_onboarding/instantiate?wait=true",
        json={"name": "Interns 2027"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Interns 2027"
    assert made.json()["webhook_secret"].startswith("whsec_")
    assert_problem(await admin.post("/api/v1/templates/nope/instantiate"), 404)
    member = admin.as_role("member")
    assert_problem(await member.post("/api/v1/templates/background_check/instantiate"), 403)


# -- secret rotation and schedules -------------------------------------------------------------


async def test_rotating_the_webhook_secret_retires_the_old_one(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    old = definition["webhook_secret"]
    url = f"/webhooks/{definition['id']}"

    rotated = await admin.post(f"/api/v1/definitions/{definition['id']}/webhook-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook_secret"]
    assert new != old
    assert new == derive_secret(WEBHOOK_KEY, definition["id"], 2)

    body = json.dumps({"first_name": "Rosa"}).encode()
    # The read side learns the new generation from the event; give it a moment.
    deadline = time.monotonic() + 10
    while True:
        with_old = await stack.client.post(url, content=body, headers=_signed(old, body))
        if with_old.status_code == 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert_problem(with_old, 401)
    # A delivery of its own: a POST with the old secret may have been accepted (and so have
    # started an execution for this body) before the read side learned of the rotation.
    fresh = {**_signed(new, body), "X-Byte-Delivery": f"after-rotation-{uuid.uuid4()}"}
    with_new = await stack.client.post(url, content=body, headers=fresh)
    assert with_new.status_code == 202, with_new.text

    manual = await _definition(admin, SIGNAL_FLOW)
    refused = await admin.post(f"/api/v1/definitions/{manual['id']}/webhook-secret")
    assert_problem(refused, 409)
    member = admin.as_role("member")
    assert_problem(await member.post(f"/api/v1/definitions/{definition['id']}/webhook-secret"), 403)


SCHEDULED: dict[str, Any] = {
    "name": "Weekly digest",
    "statuses": [{"id": "sent", "label": "Sent"}],
    "steps": [
        {
            "id": "every_monday",
            "type": "trigger",
            "name": "Every Monday 09:00",
            "config": {"type": "schedule", "cron": "0 9 * * 1"},
        },
        {"id": "done", "type": "update_status", "name": "Sent", "config": {"status": "sent"}},
    ],
}


async def test_activating_a_scheduled_definition_creates_its_temporal_schedule(
    stack: Stack, temporal_env: WorkflowEnvironment
) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, SCHEDULED)
    handle = temporal_env.client.get_schedule_handle(definition_schedule_id(definition["id"]))

    described = await handle.describe()
    # The server keeps a cron expression as the calendar it means.
    (calendar,) = described.schedule.spec.calendars
    assert [(r.start, r.end) for r in calendar.hour] == [(9, 9)]
    assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
    assert [(r.start, r.end) for r in calendar.day_of_week] == [(1, 1)]

    await handle.trigger()  # fire now rather than wait for Monday
    runs = await _eventually(
        admin,
        f"/api/v1/executions?definition_id={definition['id']}",
        lambda page: any(e["status"] == "completed" for e in page["items"]),
    )
    (run,) = runs["items"]
    assert run["ui_status"] == "sent"
    assert run["trigger"]["type"] == "schedule"

    off = await admin.post(f"/api/v1/definitions/{definition['id']}/deactivate?wait=true")
    assert off.status_code == 200, off.text
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
