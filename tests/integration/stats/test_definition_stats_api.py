"""``GET /api/v1/definitions/{id}/stats`` over executions that really ran: started over HTTP, run
by the worker on the Temporal dev server, recorded in Postgres, projected by the projector.

A reviewer signals each execution about a second after it starts waiting, so the wait (the human
part) is at least a second and the machine work around it is much less.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import Caller, assert_problem, error_fields

REVIEW: dict[str, Any] = {
    "name": "Review with a go-ahead",
    "statuses": [{"id": "cleared", "label": "Cleared"}],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "go",
            "type": "wait_for_signal",
            "name": "Wait for the reviewer",
            "config": {"signal": "go", "timeout_days": 3, "on_timeout": "fail"},
        },
        {
            "id": "check",
            "type": "condition",
            "name": "Decision",
            "config": {
                "field": "{{go.payload.decision}}",
                "branches": [{"if": "ok", "then_goto": "mark"}],
                "default": "broken",
            },
        },
        {
            "id": "mark",
            "type": "update_status",
            "name": "Cleared",
            "config": {"status": "cleared"},
            "next": "end",
        },
        {
            # A template that cannot resolve fails its step: the execution fails here.
            "id": "broken",
            "type": "update_status",
            "name": "Broken",
            "config": {"status": "{{go.payload.missing.deep}}"},
        },
    ],
}
WAIT = 1.0


async def _eventually(caller: Caller, path: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = await caller.get(path)
        if response.status_code == 200 and check(response.json()):
            return response.json()
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def _start(member: Caller, definition_id: str) -> str:
    started = await member.post(
        "/api/v1/executions", json={"definition_id": definition_id, "contact": {"first_name": "A"}}
    )
    assert started.status_code == 202, started.text
    execution_id: str = started.json()["id"]
    return execution_id


async def _waiting(member: Caller, execution_id: str) -> None:
    await _eventually(
        member, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == "waiting"
    )


async def _ends(member: Caller, execution_id: str, status: str) -> None:
    await _eventually(member, f"/api/v1/executions/{execution_id}", lambda e: e["status"] == status)


async def test_a_definitions_statistics_show_what_its_executions_did(stack: Stack) -> None:
    admin = stack.caller("admin")
    member = admin.as_role("member", user="m1")
    created = await admin.post("/api/v1/definitions?wait=true", json=REVIEW)
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    begun = datetime.now(UTC)

    # Version 1: two cleared, one failed at 'broken', one cancelled, one still waiting.
    ids = [await _start(member, definition_id) for _ in range(5)]
    for execution_id in ids:
        await _waiting(member, execution_id)
    await asyncio.sleep(WAIT)
    signals = {ids[0]: "ok", ids[1]: "ok", ids[2]: "no"}
    for execution_id, decision in signals.items():
        sent = await member.post(
            f"/api/v1/executions/{execution_id}/signals/go", json={"decision": decision}
        )
        assert sent.status_code == 202, sent.text
    cancel = await member.post(f"/api/v1/executions/{ids[3]}/cancel", json={"reason": "dupe"})
    assert cancel.status_code == 202, cancel.text
    for execution_id, status in (
        (ids[0], "completed"),
        (ids[1], "completed"),
        (ids[2], "failed"),
        (ids[3], "cancelled"),
    ):
        await _ends(member, execution_id, status)

    # Version 2: one execution, cleared.
    published = await admin.put(f"/api/v1/definitions/{definition_id}?wait=true", json=REVIEW)
    assert published.status_code == 200, published.text
    reactivated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert reactivated.status_code == 200, reactivated.text
    v2 = await _start(member, definition_id)
    await _waiting(member, v2)
    await asyncio.sleep(WAIT)
    sent = await member.post(f"/api/v1/executions/{v2}/signals/go", json={"decision": "ok"})
    assert sent.status_code == 202, sent.text
    await _ends(member, v2, "completed")

    path = f"/api/v1/definitions/{definition_id}/stats"
    viewer = admin.as_role("viewer", user="v1")
    stats = await _eventually(
        viewer,
        path,
        lambda s: (
            s["executions"]["total"] == 6 and s["executions"]["by_status"].get("completed") == 3
        ),
    )

    executions = stats["executions"]
    assert executions["by_status"] == {"cancelled": 1, "completed": 3, "failed": 1, "waiting": 1}
    assert (executions["ended"], executions["success_rate"]) == (5, 0.6)
    assert executions["duration_ms"]["count"] == 3
    assert executions["duration_ms"]["p50"] >= WAIT * 1000
    assert [(v["version"], v["total"], v["success_rate"]) for v in stats["versions"]] == [
        (1, 5, 0.5),
        (2, 1, 1.0),
    ]

    steps = {s["step_id"]: s for s in stats["steps"]}
    assert list(steps) == ["start", "go", "check", "mark", "broken"]
    assert {k: s["reached"] for k, s in steps.items()} == {
        "start": 6,
        "go": 6,
        "check": 4,
        "mark": 3,
        "broken": 1,
    }
    go = steps["go"]
    assert go["step_type"] == "wait_for_signal"
    assert go["by_outcome"] == {"cancelled": 1, "completed": 4, "waiting": 1}
    assert go["waiting_now"] == 1
    # Every ended run of 'go' waited for its reviewer at least WAIT; the machine work around
    # the wait is a small part of it.
    assert go["wait_ms"]["count"] == 5
    assert go["wait_ms"]["p50"] >= WAIT * 1000
    assert go["work_ms"]["p95"] < go["wait_ms"]["p50"]
    assert go["time_ms"]["p50"] >= go["wait_ms"]["p50"]
    assert steps["broken"]["by_outcome"] == {"failed": 1}
    assert steps["check"]["wait_ms"] == {"count": 0, "p50": None, "p95": None}
    (waiting,) = stats["waiting_now"]
    assert (waiting["step_id"], waiting["waiting_for"], waiting["count"]) == ("go", "signal", 1)
    assert datetime.fromisoformat(waiting["oldest_since"]) >= begun - timedelta(seconds=5)

    only_v2 = (await viewer.get(path, params={"version": 2})).json()
    assert only_v2["executions"]["by_status"] == {"completed": 1}
    later = (await viewer.get(path, params={"since": _iso(datetime.now(UTC))})).json()
    assert later["executions"]["total"] == 0 and later["steps"] == []
    window = (
        await viewer.get(
            path, params={"since": _iso(begun - timedelta(minutes=1)), "until": _iso(begun)}
        )
    ).json()
    assert window["executions"]["total"] == 0


async def test_stats_answer_bad_requests_with_problems(stack: Stack) -> None:
    admin = stack.caller("admin")
    created = await admin.post("/api/v1/definitions?wait=true", json=REVIEW)
    assert created.status_code == 201, created.text
    path = f"/api/v1/definitions/{created.json()['id']}/stats"

    empty = await admin.as_role("viewer").get(path)
    assert empty.status_code == 200, empty.text
    assert empty.json()["executions"]["total"] == 0

    for params, field in (
        ({"version": 0}, "version"),
        ({"version": "two"}, "version"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),  # no timezone
        ({"until": "1700000000"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ):
        problem = assert_problem(await admin.get(path, params=params), 422)
        assert any(field in f for f in error_fields(problem)), (params, problem)

    assert_problem(await admin.get(path, params={"version": 9}), 404)
    assert_problem(await admin.get("/api/v1/definitions/not-an-id/stats"), 404)
    assert_problem(await stack.caller("admin").get(path), 404)  # another org's definition
    assert_problem(await admin.client.get(path), 401)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
