"""`{{secrets.NAME}}` in definitions, on the real stack: the activity that makes the call puts
the value in (the endpoint gets it), and nothing else ever holds it: not the events, not any
read model, not the workflow's Temporal history, not the step's output (even when the endpoint
echoes it back). Definitions that reference unknown secrets, reference them where no call sends
them, or write credentials inline are refused with 422 problems naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem
from tests.integration.engine.over_http.support import activate, body, output, run, step
from tests.integration.secrets.servers import Recorder, echo_server
from tests.integration.secrets.test_secrets_api import workflow_history_bytes

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Recorder]:
    with echo_server() as server:
        yield server


def _value() -> str:
    return f"tok-{uuid.uuid4().hex}"


async def _set(caller: Caller, name: str, value: str) -> None:
    response = await caller.put(f"/api/v1/secrets/{name}", json={"value": value})
    assert response.status_code == 200, response.text


def _tables_holding(database_url: str, value: str) -> list[str]:
    """Every table of the database (events, read models, bookkeeping) whose rows hold `value`
    as text, but the secret store's own."""
    found = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
        for (table,) in tables:
            if table in ("secret_values", "org_data_keys"):
                continue
            row = conn.execute(
                f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, %s) > 0', (value,)
            ).fetchone()
            if row is not None and row[0]:
                found.append(str(table))
    return found


def _call(url: str, **config: Any) -> dict[str, Any]:
    return step("call", "http_request", method="POST", url=url, **config)


async def test_a_secret_reaches_the_endpoint_and_nothing_else(
    stack: Stack, endpoint: Recorder
) -> None:
    admin = stack.caller("admin")
    value = _value()
    await _set(admin, "CRM_TOKEN", value)
    definition = body(
        _call(
            f"{endpoint.url}/hook?key={{{{secrets.CRM_TOKEN}}}}",
            headers={
                "Authorization": "Bearer {{secrets.CRM_TOKEN}}",
                "X-Contact": "{{contact.first_name}}",
            },
            body={"token": "{{secrets.CRM_TOKEN}}", "who": "{{contact.first_name}}"},
        ),
        step("after", "update_status", status="done"),
    )
    definition["statuses"] = [{"id": "done", "label": "Done"}]
    definition_id = await activate(admin, definition)

    execution = await run(admin, definition_id, contact={"first_name": "Grace"})

    assert execution["status"] == "completed", execution
    (sent,) = [r for r in endpoint.requests if r["path"].startswith("/hook")]
    assert sent["headers"]["authorization"] == f"Bearer {value}"
    assert sent["path"] == f"/hook?key={value}"
    assert '"token": "' + value + '"' in sent["body"] or f'"token":"{value}"' in sent["body"]
    assert sent["headers"]["x-contact"] == "Grace"
    # The endpoint echoed the credential: the output keeps it masked.
    result = output(execution, "call")
    assert result["body"]["echo"] == "Bearer [secret CRM_TOKEN]"
    # Response headers: only the allow-list (no cookie, no internal host names).
    assert set(result["headers"]) <= {"content-type", "content-length", "x-request-id"}
    assert result["headers"]["x-request-id"] == "req-42"

    assert _tables_holding(stack.database_url, value) == []
    assert _tables_holding(stack.database_url, "{{secrets.CRM_TOKEN}}")  # the reference is kept
    history = await workflow_history_bytes(stack, execution["workflow_id"])
    assert b"{{secrets.CRM_TOKEN}}" in history
    assert value.encode() not in history


async def test_data_cannot_write_a_secret_reference(stack: Stack, endpoint: Recorder) -> None:
    admin = stack.caller("admin")
    value = _value()
    await _set(admin, "CRM_TOKEN", value)
    definition = body(_call(f"{endpoint.url}/forged", body={"note": "{{input.note}}"}))
    definition_id = await activate(admin, definition)

    execution = await run(admin, definition_id, input={"note": "{{secrets.CRM_TOKEN}}"})

    assert execution["status"] == "failed"
    assert "only a definition may reference a secret" in execution["error"], execution["error"]
    assert not [r for r in endpoint.requests if r["path"] == "/forged"]


async def test_a_secret_deleted_after_publishing_fails_the_step_naming_it(
    stack: Stack, endpoint: Recorder
) -> None:
    admin = stack.caller("admin")
    await _set(admin, "GONE_KEY", _value())
    definition = body(
        _call(f"{endpoint.url}/gone", headers={"X-Api-Key": "{{secrets.GONE_KEY}}"}, retries=0)
    )
    definition_id = await activate(admin, definition)
    deleted = await stack.client.delete("/api/v1/secrets/GONE_KEY", headers=admin.headers)
    assert deleted.status_code == 204

    execution = await run(admin, definition_id)

    assert execution["status"] == "failed"
    assert "GONE_KEY is not set" in execution["error"], execution["error"]
    assert not [r for r in endpoint.requests if r["path"] == "/gone"]


async def _refused(caller: Caller, definition: dict[str, Any]) -> list[dict[str, Any]]:
    problem = assert_problem(await caller.post("/api/v1/definitions", json=definition), 422)
    errors: list[dict[str, Any]] = problem["errors"]
    return errors


async def test_definitions_referencing_unknown_or_misplaced_secrets_are_refused(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    await _set(admin, "KNOWN_KEY", _value())

    errors = await _refused(
        admin,
        body(
            _call(
                "https://api.example.com/x",
                headers={"Authorization": "Bearer {{secrets.MISSING_KEY}}"},
                body={"a": "{{secrets.KNOWN_KEY}}", "b": "{{secrets.OTHER_MISSING}}"},
            ),
            step(
                "mail", "send_email", to="a@example.com", subject="s", body="{{secrets.KNOWN_KEY}}"
            ),
        ),
    )

    by_field = {e["field"]: e["message"] for e in errors}
    assert "MISSING_KEY is not set" in by_field["steps[1].config.headers.Authorization"]
    assert "OTHER_MISSING is not set" in by_field["steps[1].config.body.b"]
    assert "steps[1].config.body.a" not in by_field
    assert "only where an outbound call sends it" in by_field["steps[2].config.body"]
    assert {e["step_id"] for e in errors} == {"call", "mail"}
    # Another org's secret of the same name is not this org's.
    other = stack.caller("admin")
    errors = await _refused(
        other, body(_call("https://api.example.com/x", body={"a": "{{secrets.KNOWN_KEY}}"}))
    )
    assert "KNOWN_KEY is not set" in errors[0]["message"]
    # Known and well placed: accepted.
    accepted = await admin.post(
        "/api/v1/definitions",
        json=body(
            _call("https://api.example.com/x", headers={"X-Api-Key": "{{secrets.KNOWN_KEY}}"})
        ),
    )
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize(
    "header",
    [
        "Authorization",
        "x-api-key",
        "Proxy-Authorization",
        "Cookie",
        "X-Auth-Token",
        "X-Client-Secret",
    ],
)
async def test_inline_credentials_are_refused_pointing_to_secrets(
    stack: Stack, header: str
) -> None:
    admin = stack.caller("admin")
    definition = body(_call("https://api.example.com/x", headers={header: "sk-live-123"}))

    errors = await _refused(admin, definition)

    (error,) = errors
    assert error["field"] == f"steps[1].config.headers.{header}"
    assert "PUT /api/v1/secrets" in error["message"] and "{{secrets.NAME}}" in error["message"]
    # Published as a new version, the same.
    fine = await admin.post(
        "/api/v1/definitions?wait=true",
        json=body(_call("https://api.example.com/x", headers={"Content-Type": "text/plain"})),
    )
    assert fine.status_code == 201, fine.text
    put = await admin.put(f"/api/v1/definitions/{fine.json()['id']}", json=definition)
    assert_problem(put, 422)


async def test_steps_inside_parallel_branches_and_loops_are_checked_where_they_are(
    stack: Stack,
) -> None:
    """A call inside a `parallel` branch or a `for_each` loop may reference a secret like any
    other call (the container's own config is not a place secrets are 'shown'), and its
    unknown references and inline credentials are refused at their nested path."""
    admin = stack.caller("admin")
    await _set(admin, "NESTED_KEY", _value())
    good = step(
        "good",
        "http_request",
        method="GET",
        url="https://api.example.com/a",
        headers={"Authorization": "Bearer {{secrets.NESTED_KEY}}"},
    )
    accepted = await admin.post(
        "/api/v1/definitions",
        json=body(
            step(
                "both",
                "parallel",
                join="all",
                branches=[
                    {"name": "a", "steps": [good]},
                    {"name": "b", "steps": [{**good, "id": "good_b"}]},
                ],
            ),
            step(
                "each",
                "for_each",
                items="{{payload.items}}",
                steps=[{**good, "id": "good_in_loop"}],
            ),
        ),
    )
    assert accepted.status_code == 202, accepted.text

    missing = step(
        "missing",
        "http_request",
        method="GET",
        url="https://api.example.com/b",
        headers={"X-Api-Key": "{{secrets.NOT_SET_HERE}}"},
    )
    inline = step(
        "inline",
        "http_request",
        method="GET",
        url="https://api.example.com/c",
        headers={"Authorization": "Bearer sk-live-123"},
    )
    errors = await _refused(
        admin,
        body(
            step(
                "both",
                "parallel",
                join="all",
                branches=[{"name": "a", "steps": [missing]}, {"name": "b", "steps": [good]}],
            ),
            step("each", "for_each", items="{{payload.items}}", steps=[inline]),
        ),
    )
    by_field = {e["field"]: e["message"] for e in errors}
    assert (
        "NOT_SET_HERE is not set"
        in by_field["steps[1].config.branches[0].steps[0].config.headers.X-Api-Key"]
    )
    assert (
        "PUT /api/v1/secrets" in by_field["steps[2].config.steps[0].config.headers.Authorization"]
    )
    assert len(errors) == 2, errors
