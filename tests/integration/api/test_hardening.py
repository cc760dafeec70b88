"""Input that can never be served or stored is refused at the door (issue 10).

Each case here answered 500, or was accepted with 202 only to fail in the worker, before the
API checked it: a NUL in a text filter or path, a time that overflows in UTC, a malformed
webhook timestamp, JSON nested too deep, lone surrogates and NULs in command bodies. Now each
one is a 4xx ``application/problem+json`` naming what is wrong, and no workflow is started.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from interfaces.api.webhook_signing import sign
from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields
from tests.integration.api.test_definitions import DEFINITION

OVERFLOWING = "9999-12-31T23:59:59-14:00"
DEEP = 10_000


def deeply_nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


async def _definition(admin: Caller, body: dict[str, Any]) -> dict[str, Any]:
    created = await admin.post("/api/v1/definitions?wait=true", json=body)
    assert created.status_code == 201, created.text
    content: dict[str, Any] = created.json()
    activated = await admin.post(f"/api/v1/definitions/{content['id']}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return content


def _events_total(stack: Stack) -> int:
    import psycopg

    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


# -- item 1: NUL in filters and paths ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/contacts?q=%00", "q"),
        ("/api/v1/contacts?status=a%00b", "status"),
        ("/api/v1/tasks?assigned_to=user:%00", "assigned_to"),
        ("/api/v1/tasks?contact_id=%00", "contact_id"),
        ("/api/v1/executions?definition_id=%00", "definition_id"),
        ("/api/v1/executions?contact_id=%00", "contact_id"),
        ("/api/v1/events?actor=%00", "actor"),
        ("/api/v1/events?event_type=%00", "event_type"),
        ("/api/v1/events?run_id=%00", "run_id"),
        ("/api/v1/workflows/%00/summary", "workflow_id"),
        ("/api/v1/workflows/%00/events", "workflow_id"),
        ("/api/v1/aggregates/contact/%00/history", "aggregate_id"),
    ],
)
async def test_a_nul_in_a_filter_or_path_is_a_422_naming_it(
    stack: Stack, path: str, field: str
) -> None:
    caller = stack.caller("admin")

    problem = assert_problem(await caller.get(path), 422)

    assert error_fields(problem) == {field}
    assert "NUL" in problem["errors"][0]["message"]


async def test_a_nul_in_an_admin_path_or_an_ndjson_export_is_a_422(stack: Stack) -> None:
    caller = stack.caller("admin")

    projection = await caller.get("/api/v1/admin/projections/%00")
    export = await caller.get(
        "/api/v1/events?actor=%00", headers={"Accept": "application/x-ndjson"}
    )

    assert error_fields(assert_problem(projection, 422)) == {"name"}
    assert error_fields(assert_problem(export, 422)) == {"actor"}


# -- item 2: as_of out of range ----------------------------------------------------------------


async def test_an_as_of_that_overflows_in_utc_is_a_422(stack: Stack) -> None:
    caller = stack.caller("member")
    created = await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})
    assert created.status_code == 201, created.text

    response = await caller.get(
        f"/api/v1/aggregates/contact/{created.json()['id']}/state",
        params={"as_of": OVERFLOWING},
    )

    assert error_fields(assert_problem(response, 422)) == {"as_of"}


# -- item 3: webhook timestamps ----------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["9" * 5000, "²", "1" * 30, "-5", " 12"])
async def test_a_malformed_webhook_timestamp_is_a_401_like_any_bad_signature(
    stack: Stack, stamp: str
) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    body = b'{"first_name": "Grace"}'

    response = await stack.client.post(
        f"/webhooks/{definition['id']}",
        content=body,
        # Bytes, so that "²" travels as its UTF-8 octets, as a raw client would send it.
        headers={
            b"X-Byte-Signature": f"t={stamp},v1=00".encode(),
            b"Content-Type": b"application/json",
        },
    )

    problem = assert_problem(response, 401)
    assert "t=<unix seconds>" in problem["detail"]


# -- item 4: signed bodies that cannot be carried ----------------------------------------------


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return {
        "X-Byte-Signature": sign(secret, int(time.time()), body),
        "Content-Type": "application/json",
        "X-Byte-Delivery": f"dlv-{uuid.uuid4()}",
    }


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (deeply_nested(DEEP), "nested"),
        (b'{"first_name": "\\ud800"}', "surrogate"),
        (b'{"first_name": "Gr\\u0000ace"}', "NUL"),
        (b'{"\\udfff": "x"}', "surrogate"),
        (b'{"first_name": "\xff\xfe"}', "UTF-8"),
    ],
)
async def test_a_validly_signed_webhook_body_that_cannot_be_stored_is_a_422(
    stack: Stack, body: bytes, why: str
) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    before = _events_total(stack)

    headers = _signed(definition["webhook_secret"], body)

    url = f"/webhooks/{definition['id']}"
    response = await stack.client.post(url, content=body, headers=headers)

    problem = assert_problem(response, 422)
    assert why in problem["errors"][0]["message"], problem
    assert _events_total(stack) == before


async def test_an_unsigned_deep_webhook_body_is_still_a_401(stack: Stack) -> None:
    admin = stack.caller("admin")
    definition = await _definition(admin, DEFINITION)
    body = deeply_nested(DEEP)

    response = await stack.client.post(
        f"/webhooks/{definition['id']}",
        content=body,
        headers={"X-Byte-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )

    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "Ada", "fields": {"note": "\ud800"}}, "fields.note"),
        ({"first_name": "Ada", "fields": {"\ud800": "x"}}, "fields"),
        ({"first_name": "Ada", "fields": {"tags": ["ok", "\udc00"]}}, "fields.tags[1]"),
        ({"first_name": "A\x00da"}, "first_name"),
        ({"first_name": "Ada", "fields": {"k\x00": 1}}, "fields"),
        ({"first_name": "Ada", "fields": {"note": "a\x00"}}, "fields.note"),
        ({"first_name": "Ada", "status": "act\x00ive"}, "status"),
    ],
)
async def test_a_contact_with_a_nul_or_lone_surrogate_is_refused_before_any_workflow(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    caller = stack.caller("member")
    before = _events_total(stack)
    # json.dumps writes lone surrogates and NULs as \uXXXX escapes, as a client would.
    content = json.dumps(body).encode()

    response = await caller.post(
        "/api/v1/contacts", content=content, headers={"Content-Type": "application/json"}
    )

    problem = assert_problem(response, 422)
    assert field in error_fields(problem), problem
    assert "X-Workflow-Id" not in response.headers
    assert _events_total(stack) == before


async def test_a_patch_with_a_lone_surrogate_key_is_refused_not_stored_as_replacement_chars(
    stack: Stack,
) -> None:
    caller = stack.caller("member")
    created = await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]

    response = await caller.patch(
        f"/api/v1/contacts/{contact_id}",
        content=json.dumps({"fields": {"\ud800\udfff\ud800": "x"}}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert_problem(response, 422)
    shown = (await caller.get(f"/api/v1/contacts/{contact_id}")).json()
    assert shown["fields"] == {}


# -- item 5: commands that could never succeed -------------------------------------------------


async def test_tasks_with_a_nul_or_an_overflowing_due_date_are_refused(stack: Stack) -> None:
    caller = stack.caller("member")
    before = _events_total(stack)
    task = {"title": "Review", "assigned_to": "role:admin"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**task, "title": "Re\x00view"}, "title"),
        ({**task, "assigned_to": "role:ad\x00min"}, "assigned_to"),
        ({**task, "description": "\x00"}, "description"),
        ({**task, "metadata": {"a": ["\x00"]}}, "metadata.a[0]"),
        ({**task, "due_date": OVERFLOWING}, "due_date"),
    ]
    for body, field in cases:
        response = await caller.post(
            "/api/v1/tasks", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert field in error_fields(assert_problem(response, 422)), (body, response.text)

    existing = await caller.post(
        "/api/v1/tasks?wait=true", json={"title": "Review", "assigned_to": "role:admin"}
    )
    assert existing.status_code == 201, existing.text
    patch = await caller.patch(
        f"/api/v1/tasks/{existing.json()['id']}", json={"due_date": OVERFLOWING}
    )
    assert error_fields(assert_problem(patch, 422)) == {"due_date"}
    # Only the one valid task reached the store.
    assert _events_total(stack) == before + 1


async def test_definitions_and_execution_commands_with_a_nul_are_refused(stack: Stack) -> None:
    admin = stack.caller("admin")
    before = _events_total(stack)
    definition = json.loads(json.dumps(DEFINITION))
    definition["steps"][1]["config"]["title"] = "Review \x00"

    created = await admin.post(
        "/api/v1/definitions",
        content=json.dumps(definition),
        headers={"Content-Type": "application/json"},
    )

    problem = assert_problem(created, 422)
    assert any("steps[1].config.title" in f for f in error_fields(problem)), problem
    assert _events_total(stack) == before

    started = await admin.post(
        "/api/v1/executions",
        content=json.dumps({"definition_id": str(uuid.uuid4()), "contact": {"first_name": "\x00"}}),
        headers={"Content-Type": "application/json"},
    )
    assert "contact.first_name" in error_fields(assert_problem(started, 422))


# -- item 9: the body and the method ----------------------------------------------------------


async def test_bodies_that_are_not_utf8_or_too_deep_are_422_naming_the_body(stack: Stack) -> None:
    caller = stack.caller("member")

    not_utf8 = await caller.post(
        "/api/v1/contacts",
        content=b'{"first_name": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    too_deep = await caller.post(
        "/api/v1/contacts",
        content=deeply_nested(1_000),
        headers={"Content-Type": "application/json"},
    )

    assert error_fields(assert_problem(not_utf8, 422)) == {"body"}
    assert error_fields(assert_problem(too_deep, 422)) == {"body"}


async def test_a_405_lists_every_method_of_the_path(stack: Stack) -> None:
    caller = stack.caller("admin")

    response = await caller.client.delete("/api/v1/contacts", headers=caller.headers)

    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "POST"}


async def test_since_and_until_must_be_iso_times_not_bare_numbers(stack: Stack) -> None:
    caller = stack.caller("viewer")

    for query in ("since=0", "until=1700000000", "since=1.5"):
        problem = assert_problem(await caller.get(f"/api/v1/events?{query}"), 422)
        assert error_fields(problem) == {query.split("=")[0]}

    ok = await caller.get("/api/v1/events", params={"since": "2026-01-01T00:00:00Z"})
    assert ok.status_code == 200, ok.text


async def test_the_openapi_declares_problems_as_problem_json(stack: Stack) -> None:
    schema = (await stack.client.get("/openapi.json")).json()
    contacts = schema["paths"]["/api/v1/contacts"]

    listed = contacts["get"]["responses"]
    created = contacts["post"]["responses"]

    for responses, codes in ((listed, {"401", "422"}), (created, {"401", "403", "422"})):
        for code in codes:
            content = responses[code]["content"]
            assert list(content) == ["application/problem+json"], (code, content)
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert "HTTPValidationError" not in json.dumps(schema)
    assert "404" in schema["paths"]["/api/v1/contacts/{contact_id}"]["get"]["responses"]
    assert "401" in schema["paths"]["/webhooks/{definition_id}"]["post"]["responses"]
    assert "401" not in schema["paths"]["/healthz"]["get"]["responses"]
