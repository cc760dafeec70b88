"""Auditors over HTTP: who changed a contact, through which workflow, what it looked like."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, new_org


async def test_an_auditor_answers_who_which_workflow_and_what_it_was_with_one_call_each(
    stack: Stack,
) -> None:
    admin = stack.caller("admin", user="alice")
    created = await admin.post(
        "/api/v1/contacts?wait=true",
        json={"first_name": "Ada", "email": "ada@old.example"},
        headers={"X-Correlation-ID": "corr-audit-1"},
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await asyncio.sleep(0.05)
    changed = await admin.patch(
        f"/api/v1/contacts/{contact_id}?wait=true", json={"email": "ada@new.example"}
    )
    assert changed.status_code == 200, changed.text
    auditor = admin.as_role("viewer", user="auditor")

    # Who changed it, through which workflow:
    events = await auditor.get(f"/api/v1/events?aggregate_id={contact_id}")
    assert events.status_code == 200, events.text
    items = events.json()["items"]
    assert [e["event_type"] for e in items] == ["Contact.Created", "Contact.FieldsUpdated"]
    update = items[1]
    assert update["metadata"]["actor"] == "user:alice"
    assert update["metadata"]["workflow_type"] == "ContactCommandWorkflow"
    assert update["data"]["changes"]["email"] == {
        "old": "ada@old.example",
        "new": "ada@new.example",
    }
    assert items[0]["metadata"]["correlation_id"] == "corr-audit-1"

    # What it looked like before the change:
    old = await auditor.get(
        f"/api/v1/aggregates/contact/{contact_id}/state", params={"as_of": between.isoformat()}
    )
    assert old.status_code == 200, old.text
    assert (old.json()["email"], old.json()["version"]) == ("ada@old.example", 1)
    latest = await auditor.get(f"/api/v1/aggregates/contact/{contact_id}/state?version=2")
    assert latest.json()["email"] == "ada@new.example"

    history = await auditor.get(f"/api/v1/aggregates/contact/{contact_id}/history")
    assert [e["aggregate_version"] for e in history.json()["items"]] == [1, 2]
    summary = await auditor.get(f"/api/v1/workflows/{update['metadata']['workflow_id']}/summary")
    assert summary.status_code == 200, summary.text
    assert summary.json()["event_count"] == 1
    flow = await auditor.get(f"/api/v1/workflows/{update['metadata']['workflow_id']}/events")
    assert [e["event_id"] for e in flow.json()["items"]] == [update["event_id"]]
    lineage = await auditor.get(f"/api/v1/contacts/{contact_id}/lineage")
    assert lineage.status_code == 200, lineage.text


async def test_ndjson_streams_every_matching_event(stack: Stack) -> None:
    member = stack.caller("member")
    for n in range(3):
        response = await member.post("/api/v1/contacts", json={"first_name": f"N{n}"})
        assert response.status_code == 202, response.text

    streamed = await member.get(
        "/api/v1/events?event_type=Contact.Created", headers={"Accept": "application/x-ndjson"}
    )
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert [e["data"]["first_name"] for e in lines] == ["N0", "N1", "N2"]
    paged = await member.get("/api/v1/events?event_type=Contact.Created&limit=2")
    assert len(paged.json()["items"]) == 2 and paged.json()["next_cursor"]


async def test_audit_reads_stay_in_the_callers_org_and_refuse_bad_input(stack: Stack) -> None:
    owner = stack.caller("admin")
    created = await owner.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})
    contact_id = created.json()["id"]
    stranger = stack.caller("admin")

    assert (await stranger.get(f"/api/v1/events?aggregate_id={contact_id}")).json()["items"] == []
    for path in (
        f"/api/v1/aggregates/contact/{contact_id}/history",
        f"/api/v1/aggregates/contact/{contact_id}/state",
        f"/api/v1/contacts/{contact_id}/lineage",
        f"/api/v1/aggregates/spaceship/{contact_id}/history",
    ):
        assert_problem(await stranger.get(path), 404)
    assert_problem(await owner.get("/api/v1/events?since=2026-01-01T00:00:00"), 422)
    assert_problem(await owner.get("/api/v1/events?cursor=zzz"), 422)
    streamed_bad = await owner.get(
        "/api/v1/events?aggregate_type=spaceship", headers={"Accept": "application/x-ndjson"}
    )
    assert_problem(streamed_bad, 422)
    state = f"/api/v1/aggregates/contact/{contact_id}/state?version=1&as_of=2026-01-01T00:00:00Z"
    assert_problem(await owner.get(state), 422)


async def test_verifying_the_store_is_for_admins(stack: Stack) -> None:
    admin = Caller(stack.client, new_org(), "admin", operator=True)  # the whole store: operators
    for _ in range(100):  # the sealer trails the newest event by moments
        verified = await admin.get("/api/v1/audit/verify")
        assert verified.status_code == 200, verified.text
        if verified.json()["unsealed"] == 0:
            break
        await asyncio.sleep(0.1)
    assert verified.json()["ok"] is True
    assert verified.json()["head"] >= 1 and verified.json()["seal_lag_seconds"] is None
    assert_problem(await admin.as_role("member").get("/api/v1/audit/verify"), 403)
