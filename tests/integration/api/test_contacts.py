"""Contacts through HTTP: commands run their workflow, reads come from the projection."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowExecutionStatus

from interfaces.api import create_app
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem, events_of


async def eventually_get(caller: Caller, path: str, timeout: float = 5.0) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await caller.get(path)
        if response.status_code == 200:
            body: dict[str, object] = response.json()
            return body
        assert response.status_code == 404, response.text
        assert asyncio.get_running_loop().time() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.02)


async def test_creating_a_contact_answers_202_and_it_appears_in_the_read_api(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.post(
        "/api/v1/contacts", json={"first_name": "Ada", "email": "ada@x.io"}
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"workflow_id", "id", "status_url"}
    assert body["workflow_id"] == f"contact-create-{body['id']}"
    assert body["status_url"] == f"/api/v1/commands/{body['workflow_id']}"
    assert response.headers["X-Workflow-Id"] == body["workflow_id"]
    contact = await eventually_get(caller, f"/api/v1/contacts/{body['id']}")
    assert contact["first_name"] == "Ada"
    assert contact["email"] == "ada@x.io"
    assert contact["status"] == "active"
    assert contact["org_id"] == caller.org


async def test_wait_true_answers_201_with_the_contact_as_get_returns_it(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.post(
        "/api/v1/contacts?wait=true", json={"first_name": "Grace", "last_name": "Hopper"}
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"/api/v1/contacts/{created['id']}"
    assert response.headers["X-Workflow-Id"] == f"contact-create-{created['id']}"
    read = await caller.get(f"/api/v1/contacts/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created


async def test_patch_with_wait_shows_the_change_at_once(stack: Stack) -> None:
    caller = stack.caller("member")
    created = (await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Al"})).json()

    response = await caller.patch(
        f"/api/v1/contacts/{created['id']}?wait=true",
        json={"last_name": "Turing", "status": "lead", "fields": {"source": "web"}},
    )

    assert response.status_code == 200, response.text
    contact = response.json()
    assert (contact["first_name"], contact["last_name"], contact["status"]) == (
        "Al",
        "Turing",
        "lead",
    )
    assert contact["fields"] == {"source": "web"}
    assert contact["version"] > created["version"]


async def test_a_patch_of_only_the_status_changes_only_the_status(stack: Stack) -> None:
    caller = stack.caller("member")
    created = (await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Al"})).json()

    response = await caller.patch(
        f"/api/v1/contacts/{created['id']}?wait=true", json={"status": "customer"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "customer"
    assert response.json()["first_name"] == "Al"
    assert [e["event_type"] for e in events_of(stack.database_url, created["id"])] == [
        "Contact.Created",
        "Contact.StatusChanged",
    ]


async def test_patch_without_wait_answers_202_and_the_change_follows(stack: Stack) -> None:
    caller = stack.caller("member")
    created = (await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Bo"})).json()

    response = await caller.patch(f"/api/v1/contacts/{created['id']}", json={"phone": "+4412"})

    assert response.status_code == 202, response.text
    assert response.json()["id"] == created["id"]
    assert response.json()["workflow_id"].startswith(f"contact-update-{created['id']}-")
    for _ in range(250):
        contact = (await caller.get(f"/api/v1/contacts/{created['id']}")).json()
        if contact["phone"] == "+4412":
            break
        await asyncio.sleep(0.02)
    assert contact["phone"] == "+4412"


async def test_events_name_the_workflow_the_correlation_id_and_the_actor(stack: Stack) -> None:
    caller = stack.caller("member", user="user_42")

    response = await caller.post(
        "/api/v1/contacts",
        json={"first_name": "Ada"},
        headers={"X-Correlation-ID": "corr-abc-1", "X-Request-ID": "req-xyz-9"},
    )

    assert response.status_code == 202, response.text
    assert response.headers["X-Correlation-ID"] == "corr-abc-1"
    assert response.headers["X-Request-ID"] == "req-xyz-9"
    (event,) = events_of(stack.database_url, response.json()["id"])
    assert event["event_type"] == "Contact.Created"
    assert event["workflow_id"] == response.json()["workflow_id"]
    assert event["workflow_type"] == "ContactCommandWorkflow"
    assert event["activity_id"] == "1"
    assert event["correlation_id"] == "corr-abc-1"
    assert event["causation_id"] == "req-xyz-9"
    assert event["actor"] == "user:user_42"
    assert event["source"] == "api"
    assert event["org_id"] == caller.org


async def test_a_repeated_idempotency_key_returns_the_first_result_and_appends_once(
    stack: Stack,
) -> None:
    caller = stack.caller("member")
    headers = {"Idempotency-Key": "create-ada-1"}
    body = {"first_name": "Ada", "email": "ada@example.com"}

    first = await caller.post("/api/v1/contacts", json=body, headers=headers)
    second = await caller.post("/api/v1/contacts", json=body, headers=headers)

    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json() == second.json()
    assert len(events_of(stack.database_url, first.json()["id"])) == 1
    # Another org using the same key gets its own contact.
    other = await stack.caller("member").post("/api/v1/contacts", json=body, headers=headers)
    assert other.json()["id"] != first.json()["id"]


async def test_an_idempotency_key_reused_for_another_body_is_refused(stack: Stack) -> None:
    caller = stack.caller("member")
    headers = {"Idempotency-Key": "k-1"}
    first = await caller.post("/api/v1/contacts", json={"first_name": "A"}, headers=headers)
    assert first.status_code == 202

    again = await caller.post("/api/v1/contacts", json={"first_name": "B"}, headers=headers)

    problem = assert_problem(again, 422)
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert len(events_of(stack.database_url, first.json()["id"])) == 1


async def test_an_invalid_email_is_a_422_naming_the_field(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.post("/api/v1/contacts", json={"email": "not-an-email"})

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "email"
    assert problem["workflow_id"].startswith("contact-create-")


async def test_patching_a_missing_contact_is_404(stack: Stack) -> None:
    caller = stack.caller("member")

    response = await caller.patch(f"/api/v1/contacts/{uuid.uuid4()}", json={"first_name": "X"})

    assert_problem(response, 404)


async def test_lists_filter_search_and_page(stack: Stack) -> None:
    caller = stack.caller("viewer")
    writer = caller.as_role("member")
    for first, status in [("Ann", "lead"), ("Ben", "active"), ("Cid", "lead"), ("Dee", "lead")]:
        response = await writer.post(
            "/api/v1/contacts?wait=true", json={"first_name": first, "status": status}
        )
        assert response.status_code == 201, response.text

    leads = (await caller.get("/api/v1/contacts", params={"status": "lead"})).json()
    assert sorted(c["first_name"] for c in leads["items"]) == ["Ann", "Cid", "Dee"]
    found = (await caller.get("/api/v1/contacts", params={"q": "be"})).json()
    assert [c["first_name"] for c in found["items"]] == ["Ben"]

    first_page = (await caller.get("/api/v1/contacts", params={"limit": 3})).json()
    assert len(first_page["items"]) == 3
    assert first_page["next_cursor"]
    second_page = (
        await caller.get(
            "/api/v1/contacts", params={"limit": 3, "cursor": first_page["next_cursor"]}
        )
    ).json()
    assert [c["first_name"] for c in second_page["items"]] == ["Ann"]
    assert second_page["next_cursor"] is None


async def test_without_a_worker_commands_are_accepted_and_wait_answers_504(stack: Stack) -> None:
    """Commands outlive a worker outage: 202 with the workflow id, run once a worker is back."""
    idle_queue = f"no-worker-{uuid.uuid4().hex[:8]}"
    temporal = stack.app.state.api.temporal
    app = create_app(api_settings(stack.database_url, idle_queue), temporal_client=temporal)
    app.state.api.command_accept_timeout = 0.3
    async with serving(app) as client:
        caller = Caller(client, stack.caller().org)

        accepted = await caller.post("/api/v1/contacts", json={"first_name": "Later"})
        waited = await caller.post(
            "/api/v1/contacts?wait=true&wait_timeout=0.3", json={"first_name": "Later"}
        )

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["workflow_id"] == f"contact-create-{accepted.json()['id']}"
    problem = assert_problem(waited, 504)
    assert problem["workflow_id"].startswith("contact-create-")
    for workflow_id in (accepted.json()["workflow_id"], problem["workflow_id"]):
        description = await temporal.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        await temporal.get_workflow_handle(workflow_id).terminate("test over")


async def test_more_concurrent_reads_than_pooled_connections_all_answer_and_return_them(
    stack: Stack,
) -> None:
    """Reads run on the API's async pool (interfaces/api/reads.py): a burst larger than the
    pool waits for connections on the event loop, must still be answered in full, and leaves
    every connection back in the pool."""
    caller = stack.caller("viewer")
    pool = stack.app.state.api.reads
    paths = ["/api/v1/contacts", "/api/v1/tasks?execution_id=x", "/api/v1/executions/nope"]

    responses = await asyncio.gather(*(caller.get(paths[n % 3]) for n in range(60)))

    assert [r.status_code for r in responses] == [200, 200, 404] * 20
    # The burst made the pool grow: a connection it is still opening counts in its size before
    # it is available. Given a moment, every connection is back and idle, none leaked.
    for _ in range(100):
        stats = pool.get_stats()
        if stats["pool_available"] == stats["pool_size"]:
            break
        await asyncio.sleep(0.02)
    assert stats["pool_available"] == stats["pool_size"]
    assert stats.get("requests_waiting", 0) == 0
