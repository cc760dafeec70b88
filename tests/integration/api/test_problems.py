"""Bad input is a 4xx problem+json naming what is wrong; never a 500, never a stack trace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from interfaces.api import create_app
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import assert_problem, error_fields


async def test_malformed_json_is_a_422_naming_the_body(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.post(
        "/api/v1/contacts",
        content=b'{"first_name": "Ada",',
        headers={"Content-Type": "application/json"},
    )

    problem = assert_problem(response, 422)
    assert error_fields(problem) == {"body"}
    assert "not valid JSON" in problem["errors"][0]["message"]


async def test_wrong_types_and_unknown_fields_are_named(stack: Stack) -> None:
    caller = stack.caller("member")

    contact = await caller.post(
        "/api/v1/contacts", json={"first_name": 5, "nickname": "Addy", "fields": []}
    )
    task = await caller.post(
        "/api/v1/tasks",
        json={
            "title": "x" * 501,
            "assigned_to": "bob",
            "priority": "asap",
            "status": "finished",
            "due_date": "2030-01-01T09:00:00",
        },
    )
    not_an_object = await caller.post("/api/v1/contacts", json=["Ada"])

    assert error_fields(assert_problem(contact, 422)) == {"first_name", "nickname", "fields"}
    assert error_fields(assert_problem(task, 422)) == {
        "title",
        "assigned_to",
        "priority",
        "status",
        "due_date",
    }
    assert error_fields(assert_problem(not_an_object, 422)) == {"body"}


async def test_list_parameters_are_checked(stack: Stack) -> None:
    caller = stack.caller("viewer")
    cases = {
        "/api/v1/contacts?limit=500": "limit",
        "/api/v1/contacts?limit=0": "limit",
        "/api/v1/tasks?limit=ten": "limit",
        "/api/v1/contacts?cursor=bm90LWEtY3Vyc29y": "cursor",
        "/api/v1/executions?cursor=%%%": "cursor",
        "/api/v1/tasks?status=finished": "status",
        f"/api/v1/contacts?q={'a' * 201}": "q",
        "/api/v1/definitions/" + str(uuid.uuid4()) + "?version=0": "version",
    }
    for path, field in cases.items():
        problem = assert_problem(await caller.get(path), 422)
        assert error_fields(problem) == {field}, path

    assert (await caller.get("/api/v1/contacts?limit=200")).status_code == 200


async def test_command_options_are_checked(stack: Stack) -> None:
    caller = stack.caller("member")

    too_long = await caller.post("/api/v1/contacts?wait=true&wait_timeout=31", json={})
    bad_key = await caller.post("/api/v1/contacts", json={}, headers={"Idempotency-Key": "k" * 256})

    assert error_fields(assert_problem(too_long, 422)) == {"wait_timeout"}
    assert error_fields(assert_problem(bad_key, 422)) == {"Idempotency-Key"}


async def test_ids_that_are_not_uuids_answer_404_like_missing_ones(stack: Stack) -> None:
    caller = stack.caller("admin")
    for method, path in [
        ("GET", "/api/v1/contacts/42"),
        ("GET", "/api/v1/tasks/not-a-uuid"),
        ("GET", "/api/v1/executions/x"),
        ("GET", "/api/v1/definitions/x"),
        ("PATCH", "/api/v1/contacts/42"),
        ("PATCH", "/api/v1/tasks/not-a-uuid"),
        ("PUT", "/api/v1/definitions/x"),
        ("POST", "/api/v1/definitions/x/activate"),
    ]:
        body = {"name": "n", "steps": []} if method == "PUT" else {}
        response = await caller.client.request(method, path, json=body, headers=caller.headers)
        assert_problem(response, 404)


async def test_unknown_routes_and_methods_are_problems(stack: Stack) -> None:
    caller = stack.caller("admin")

    unknown = await caller.get("/api/v1/nothing-here")
    anonymous_unknown = await stack.client.get("/nowhere")
    wrong_method = await caller.client.delete("/api/v1/contacts", headers=caller.headers)

    assert_problem(unknown, 404)
    assert_problem(anonymous_unknown, 404)
    assert_problem(wrong_method, 405)
    assert "GET" in wrong_method.headers["Allow"]


async def test_bodies_over_one_mebibyte_are_413(stack: Stack) -> None:
    caller = stack.caller("member")
    huge = b'{"fields": {"blob": "' + b"x" * (1024 * 1024) + b'"}}'

    declared = await caller.post(
        "/api/v1/contacts", content=huge, headers={"Content-Type": "application/json"}
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    streamed = await caller.post(
        "/api/v1/contacts", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert_problem(declared, 413)
    assert_problem(streamed, 413)


@pytest_asyncio.fixture(loop_scope="session")
async def failing_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one route that has a bug, to see what a client gets from a 500."""
    app = create_app(
        api_settings(stack.database_url, stack.task_queue),
        temporal_client=stack.app.state.api.temporal,
    )

    def broken() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/broken", broken)
    async with serving(app) as client:
        yield client


async def test_a_bug_is_a_generic_500_problem_without_details(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.get("/api/v1/broken", headers={"X-Request-ID": "req-500"})

    problem = assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert response.headers["X-Request-ID"] == "req-500"
    assert problem["instance"] == "/api/v1/broken"
