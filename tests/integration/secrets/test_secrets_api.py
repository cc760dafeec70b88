"""`/api/v1/secrets` over HTTP on the real stack: admins set, list and delete an org's secrets;
the value is never answered, is stored encrypted under the org's data key, and appears in no
event and no Temporal history; each change is an event naming the secret, who and when."""

from __future__ import annotations

import base64
import uuid

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from application.secrets import SecretStore, SecretStoreError
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem
from tests.integration.secrets.conftest import MASTER_KEY_BYTES

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _value() -> str:
    # Unique per test, so a search for it can only find this test's value.
    return f"sk-live-{uuid.uuid4().hex}"


async def _delete(stack: Stack, caller: Caller, name: str) -> httpx.Response:
    return await stack.client.delete(f"/api/v1/secrets/{name}", headers=caller.headers)


def _rows(database_url: str, sql: str, *params: object) -> list[dict[str, object]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return list(conn.execute(sql, params).fetchall())


async def workflow_history_bytes(stack: Stack, workflow_id: str) -> bytes:
    """Every event of the workflow's history as Temporal stores it (protobuf), where payloads
    (inputs, results) are their raw JSON bytes: a value in any of them is found by a search."""
    client = stack.app.state.api.temporal
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def test_an_admin_sets_lists_replaces_and_deletes_a_secret(stack: Stack) -> None:
    admin = stack.caller("admin", user="ada")
    first, second = _value(), _value()

    put = await admin.put("/api/v1/secrets/CRM_API_KEY", json={"value": first})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["name"] == "CRM_API_KEY"
    assert body["set_by"] == "user:ada"
    assert "value" not in body and first not in put.text
    put_workflow = put.headers["X-Workflow-Id"]
    fate = (await admin.get(f"/api/v1/commands/{put_workflow}")).json()
    assert fate["status"] == "succeeded", fate
    assert fate["resource"] == {"type": "secret", "id": "CRM_API_KEY", "url": "/api/v1/secrets"}

    listed = await admin.get("/api/v1/secrets")
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()["items"]] == ["CRM_API_KEY"]
    assert first not in listed.text

    again = await admin.put("/api/v1/secrets/CRM_API_KEY", json={"value": second})
    assert again.status_code == 200, again.text
    assert again.json()["set_at"] > body["set_at"]

    # Stored encrypted under the org's data key; the worker's store opens it.
    rows = _rows(
        stack.database_url,
        "SELECT ciphertext, revision FROM secret_values WHERE org_id = %s",
        admin.org,
    )
    assert len(rows) == 1 and rows[0]["revision"] == 3  # Registered, ValueSet, ValueSet
    raw = bytes(rows[0]["ciphertext"])  # type: ignore[call-overload]
    assert second.encode() not in raw and first.encode() not in raw
    store = SecretStore(stack.services.store.datastore, MASTER_KEY_BYTES)
    assert store.values(admin.org, ["CRM_API_KEY", "OTHER"]) == {"CRM_API_KEY": second}
    # Another master key cannot open the org's data key, and says why.
    with pytest.raises(SecretStoreError, match="master key"):
        SecretStore(stack.services.store.datastore, b"\x01" * 32).values(admin.org, ["CRM_API_KEY"])

    deleted = await _delete(stack, admin, "CRM_API_KEY")
    assert deleted.status_code == 204
    assert (await admin.get("/api/v1/secrets")).json()["items"] == []
    assert store.values(admin.org, ["CRM_API_KEY"]) == {}
    gone = await _delete(stack, admin, "CRM_API_KEY")
    assert_problem(gone, 404)

    # The record: each change an event with the name and the actor, never the value.
    events = _rows(
        stack.database_url,
        "SELECT event_type, actor, data::text AS data FROM events"
        " WHERE org_id = %s AND aggregate_type = 'secret' ORDER BY position",
        admin.org,
    )
    assert [e["event_type"] for e in events] == [
        "Secret.Registered",
        "Secret.ValueSet",
        "Secret.ValueSet",
        "Secret.Deleted",
    ]
    assert {e["actor"] for e in events} == {"user:ada"}
    assert all("CRM_API_KEY" in str(e["data"]) for e in events)
    for value in (first, second):
        hits = _rows(
            stack.database_url,
            "SELECT position FROM events WHERE strpos(data::text, %s) > 0"
            " OR strpos(coalesce(actor, '') || coalesce(command_id, ''), %s) > 0",
            value,
            value,
        )
        assert hits == []
    # The workflow that carried it holds only its sealed form.
    history = await workflow_history_bytes(stack, put_workflow)
    assert b'"name":"CRM_API_KEY"' in history  # the command's input is there, readable
    assert first.encode() not in history
    assert base64.b64encode(first.encode()) not in history

    # Auditors read the secret's history like any aggregate's.
    audit = await admin.get("/api/v1/events", params={"aggregate_type": "secret"})
    assert audit.status_code == 200, audit.text
    assert len(audit.json()["items"]) == 4


async def test_only_admins_and_owners_manage_secrets(stack: Stack) -> None:
    owner = stack.caller("owner")
    assert (await owner.put("/api/v1/secrets/TOKEN", json={"value": _value()})).status_code == 200
    for role in ("member", "viewer"):
        caller = owner.as_role(role)
        assert_problem(await caller.get("/api/v1/secrets"), 403)
        assert_problem(await caller.put("/api/v1/secrets/TOKEN", json={"value": "x"}), 403)
        assert_problem(await _delete(stack, caller, "TOKEN"), 403)
    # Another org sees none of it, and cannot delete it.
    other = stack.caller("admin")
    assert (await other.get("/api/v1/secrets")).json()["items"] == []
    assert_problem(await _delete(stack, other, "TOKEN"), 404)
    assert [i["name"] for i in (await owner.get("/api/v1/secrets")).json()["items"]] == ["TOKEN"]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("crm_key", {"value": "x"}, "name"),
        ("1KEY", {"value": "x"}, "name"),
        ("K" * 65, {"value": "x"}, "name"),
        ("KEY", {"value": ""}, "value"),
        ("KEY", {}, "value"),
        ("KEY", {"value": 42}, "value"),
        ("KEY", {"value": "x", "note": "y"}, "note"),
        ("KEY", {"value": "x" * 8193}, "value"),
    ],
)
async def test_bad_names_and_values_are_422_problems(
    stack: Stack, name: str, body: dict[str, object], field: str
) -> None:
    admin = stack.caller("admin")
    problem = assert_problem(await admin.put(f"/api/v1/secrets/{name}", json=body), 422)
    assert any(error["field"].endswith(field) for error in problem["errors"]), problem
    assert (await admin.get("/api/v1/secrets")).json()["items"] == []
    if field == "name":
        assert_problem(await _delete(stack, admin, name), 422)
