"""Liveness, readiness, metrics, request ids and the OpenAPI document."""

from __future__ import annotations

import re

import psycopg

from interfaces.api import create_app
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import assert_problem


async def test_liveness_needs_nothing(stack: Stack) -> None:
    response = await stack.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_postgres_and_temporal(stack: Stack) -> None:
    response = await stack.client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "temporal": "ok"}}


async def test_readiness_is_503_when_postgres_and_temporal_are_unreachable(stack: Stack) -> None:
    settings = api_settings(
        "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1",
        stack.task_queue,
        temporal_address="127.0.0.1:1",
    )
    async with serving(create_app(settings)) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert alive.status_code == 200
    problem = assert_problem(ready, 503)
    assert problem["checks"]["postgres"].startswith("unavailable")
    assert problem["checks"]["temporal"].startswith("unavailable")


async def test_metrics_show_latency_by_route_template_and_the_read_side(stack: Stack) -> None:
    caller = stack.caller("member")
    created = (
        await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Metric"})
    ).json()
    await caller.get(f"/api/v1/contacts/{created['id']}")
    await caller.get("/api/v1/contacts/not-a-uuid")

    response = await stack.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'bytedash_http_request_duration_seconds_count{method="GET",'
        'route="/api/v1/contacts/{contact_id}",status="200"}'
    ) in text
    assert 'route="/api/v1/contacts/{contact_id}",status="404"' in text
    assert 'method="POST",route="/api/v1/contacts",status="201"' in text
    assert created["id"] not in text  # ids never become labels
    head = re.search(r"^bytedash_event_store_head_position (\S+)$", text, re.M)
    assert head is not None and float(head.group(1)) >= 1
    for projection in ("contacts", "tasks", "executions", "definitions"):
        assert f'bytedash_projection_lag_events{{projection="{projection}"}}' in text
        assert f'bytedash_projection_lag_seconds{{projection="{projection}"}}' in text
    contacts_position = re.search(
        r'^bytedash_projection_position\{projection="contacts"\} (\S+)$', text, re.M
    )
    assert contacts_position is not None and float(contacts_position.group(1)) >= 1
    assert "bytedash_read_side_up 1.0" in text
    assert re.search(r"^bytedash_chain_unsealed_events \S+$", text, re.M)
    assert re.search(r"^bytedash_chain_seal_lag_seconds \S+$", text, re.M)


async def test_request_and_correlation_ids_are_generated_or_echoed(stack: Stack) -> None:
    generated = await stack.client.get("/healthz")
    echoed = await stack.client.get(
        "/healthz", headers={"X-Request-ID": "r-1", "X-Correlation-ID": "c-1"}
    )
    unsafe = await stack.client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})

    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert generated.headers["X-Correlation-ID"] == generated.headers["X-Request-ID"]
    assert (echoed.headers["X-Request-ID"], echoed.headers["X-Correlation-ID"]) == ("r-1", "c-1")
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"


async def test_the_openapi_document_and_docs_are_served(stack: Stack) -> None:
    spec = (await stack.client.get("/openapi.json")).json()
    docs = await stack.client.get("/docs")

    assert docs.status_code == 200
    paths = spec["paths"]
    for path in (
        "/api/v1/contacts",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
        "/api/v1/me/tasks",
        "/api/v1/executions",
        "/api/v1/executions/{execution_id}",
        "/api/v1/definitions",
        "/api/v1/definitions/{definition_id}",
        "/api/v1/definitions/{definition_id}/activate",
        "/api/v1/definitions/{definition_id}/deactivate",
    ):
        assert path in paths, path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert set(paths["/api/v1/contacts"]) == {"get", "post"}


async def test_metrics_show_parked_events_and_each_projections_status(stack: Stack) -> None:
    # What the projector writes when an event's retries ran out (projections/batch.py).
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_parked_events (projection, position, event_id, event_type,"
            " originator_id, originator_version, error, attempts)"
            " VALUES ('definitions', 999999999, gen_random_uuid(), 'Definition.Created',"
            " gen_random_uuid(), 1, 'ValueError: a handler failed', 5)"
        )
        try:
            text = (await stack.client.get("/metrics")).text
        finally:
            conn.execute(
                "DELETE FROM projection_parked_events WHERE position = 999999999"
                " AND projection = 'definitions'"
            )
        after = (await stack.client.get("/metrics")).text

    def parked_of(page: str, projection: str) -> float:
        found = re.search(
            rf'^bytedash_projection_parked_events{{projection="{projection}"}} (\S+)$', page, re.M
        )
        assert found is not None, projection
        return float(found.group(1))

    assert parked_of(text, "definitions") == 1
    assert parked_of(text, "contacts") == 0
    assert parked_of(after, "definitions") == 0
    assert 'bytedash_projection_status{projection="definitions",status="parked"} 1.0' in text
    # One status at a time: the projector of this stack is running, nothing else is set.
    for projection in ("contacts", "tasks", "executions"):
        on = re.findall(
            rf'^bytedash_projection_status{{projection="{projection}",status="(\w+)"}} 1\.0$',
            after,
            re.M,
        )
        assert on == ["running"], (projection, on)
