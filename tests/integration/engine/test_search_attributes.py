"""Search attributes on the Temporal dev server: an operator finds an execution by its org,
definition, version, contact and status with `temporal workflow list --query` (here the same
query through the client), the status follows the execution, a move changes its version, and a
server that lacks the attributes still runs executions (unlisted) and says what to run.

The dev server's visibility is eventually consistent: every lookup polls briefly.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from temporalio.client import Client, WorkflowHistory
from temporalio.common import TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker
from temporalio.workflow import NondeterminismError

from application.bundle import Services
from interfaces.embedded import EmbeddedTemporal
from tests.integration.api.conftest import (  # noqa: F401 - the API stack's fixtures
    Stack,
    module_database_url,
    projector_running,
    stack,
)
from tests.integration.api.support import new_org
from tests.integration.engine.servers import Endpoint
from tests.integration.engine.support import definition, step, until
from tests.support.temporal import dev_server_path
from worker.contracts import (
    MIGRATE_UPDATE,
    NAMED_SIGNAL,
    SEARCH_CONTACT_ID,
    SEARCH_DEFINITION_ID,
    SEARCH_DEFINITION_VERSION,
    SEARCH_ORG_ID,
    SEARCH_STATUS,
    CommandMeta,
    ExecutionResult,
    MigrationAnswer,
    MigrationRequest,
    NamedSignal,
)
from worker.main import WORKFLOWS, build_worker
from worker.search_attributes import (
    check_search_attributes,
    create_command,
    missing_search_attributes,
)
from worker.starts import Origin, execution_input, start_execution
from worker.workflows import engine

CONTACT_TRIGGER = {
    "type": "form_submission",
    "contact": {"first_name": "{{payload.first_name}}", "email": "{{payload.email}}"},
}


async def _start(
    client: Client, queue: str, body: dict[str, Any], org_id: str, definition_id: str
) -> str:
    """Start as `POST /executions` does (worker/starts.py); returns the workflow id."""
    execution = execution_input(
        meta=CommandMeta(org_id=org_id, actor="user:7", source="test"),
        execution_id=str(uuid.uuid4()),
        definition_id=definition_id,
        definition_version=1,
        definition=body,
        trigger={"type": "form_submission"},
        payload={"first_name": "Ada", "email": f"ada-{uuid.uuid4().hex[:6]}@example.com"},
    )
    started = await start_execution(client, queue, execution, Origin("api"))
    return started.workflow_id


async def _listed(
    client: Client,
    query: str,
    timeout: float = 15.0,
    *,
    holding: Callable[[dict[str, TypedSearchAttributes]], bool] = bool,
) -> dict[str, TypedSearchAttributes]:
    """The workflows `query` lists (id -> attributes), once the list is `holding` (by default:
    lists any), or as it is at `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = {w.id: w.typed_search_attributes async for w in client.list_workflows(query)}
        if holding(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_an_execution_is_found_by_org_definition_contact_and_its_status(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    org_id, definition_id = f"org-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body = definition(step("go", "wait_for_signal", signal="go"), trigger=CONTACT_TRIGGER)
    workflow_id = await _start(client, engine_queue, body, org_id, definition_id)
    handle = client.get_workflow_handle(workflow_id, result_type=ExecutionResult)
    state = await until(handle, lambda s: s.status == "waiting")
    contact_id = state.outputs["start"]["contact_id"]
    assert contact_id

    waiting = await _listed(client, f'OrgId = "{org_id}" AND BytedashStatus = "waiting"')
    assert list(waiting) == [workflow_id]
    attributes = waiting[workflow_id]
    assert attributes.get(SEARCH_DEFINITION_ID) == definition_id
    assert attributes.get(SEARCH_DEFINITION_VERSION) == 1
    assert attributes.get(SEARCH_CONTACT_ID) == contact_id
    by_contact = await _listed(client, f'ContactId = "{contact_id}"')
    assert list(by_contact) == [workflow_id]
    by_definition = await _listed(
        client, f'DefinitionId = "{definition_id}" AND DefinitionVersion = 1'
    )
    assert list(by_definition) == [workflow_id]
    # Another org's query does not list it.
    assert await _listed(client, f'OrgId = "{org_id}-other"', timeout=0.5) == {}

    await handle.signal(NAMED_SIGNAL, NamedSignal(name="go"))
    assert (await handle.result()).status == "completed"
    completed = await _listed(client, f'OrgId = "{org_id}" AND BytedashStatus = "completed"')
    assert list(completed) == [workflow_id]
    assert await _listed(client, f'OrgId = "{org_id}" AND BytedashStatus = "waiting"', 0.5) == {}


async def test_an_execution_needing_attention_is_listed_and_then_cancelled(
    temporal_env: WorkflowEnvironment,
    engine_worker: Worker,
    engine_queue: str,
    endpoint: Endpoint,
) -> None:
    client = temporal_env.client
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    push = step("push", "http_request", method="POST", url=f"{endpoint.url}/status/400")
    push["on_failure"] = "park"
    body = definition(push, trigger=CONTACT_TRIGGER)
    workflow_id = await _start(client, engine_queue, body, org_id, str(uuid.uuid4()))
    handle = client.get_workflow_handle(workflow_id, result_type=ExecutionResult)
    await until(handle, lambda s: s.status == "needs_attention")

    query = f'OrgId = "{org_id}" AND BytedashStatus = "needs_attention"'
    assert list(await _listed(client, query)) == [workflow_id]

    await handle.cancel()
    cancelled = await _listed(client, f'OrgId = "{org_id}" AND BytedashStatus = "cancelled"')
    assert list(cancelled) == [workflow_id]


async def test_a_moved_execution_is_listed_under_its_new_version(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    org_id, definition_id = f"org-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    version_1 = definition(step("go", "wait_for_signal", signal="go"), trigger=CONTACT_TRIGGER)
    version_2 = definition(step("proceed", "wait_for_signal", signal="go"), trigger=CONTACT_TRIGGER)
    workflow_id = await _start(client, engine_queue, version_1, org_id, definition_id)
    handle = client.get_workflow_handle(workflow_id, result_type=ExecutionResult)
    await until(handle, lambda s: s.status == "waiting")

    answer: MigrationAnswer = await handle.execute_update(
        MIGRATE_UPDATE,
        MigrationRequest(
            meta=CommandMeta(org_id=org_id, actor="user:7", source="test"),
            definition_version=2,
            definition=version_2,
            step_mapping={"go": "proceed"},
        ),
        result_type=MigrationAnswer,
    )
    assert answer.moved
    await until(handle, lambda s: s.status == "waiting" and s.current_step_id == "proceed")

    moved = await _listed(client, f'DefinitionId = "{definition_id}" AND DefinitionVersion = 2')
    assert list(moved) == [workflow_id]
    assert moved[workflow_id].get(SEARCH_STATUS) == "waiting"
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="go"))
    assert (await handle.result()).status == "completed"


async def test_a_server_without_the_attributes_still_runs_executions_and_says_what_to_run(
    engine_services: Services,
) -> None:
    bare = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    try:
        with structlog.testing.capture_logs() as logs:
            missing = await check_search_attributes(bare.client)
            assert missing == [
                "OrgId",
                "DefinitionId",
                "DefinitionVersion",
                "ContactId",
                "BytedashStatus",
            ]
            async with build_worker(bare.client, engine_services, queue):
                body = definition(
                    step("go", "wait_for_signal", signal="go"), trigger=CONTACT_TRIGGER
                )
                workflow_id = await _start(bare.client, queue, body, "org-bare", str(uuid.uuid4()))
                handle = bare.client.get_workflow_handle(workflow_id, result_type=ExecutionResult)
                await until(handle, lambda s: s.status == "waiting")
                await handle.signal(NAMED_SIGNAL, NamedSignal(name="go"))
                result = await handle.result()
        assert result.status == "completed"
        description = await handle.describe()
        assert description.typed_search_attributes.get(SEARCH_ORG_ID) is None
        events = {entry["event"]: entry for entry in logs}
        assert events["search_attributes.missing"]["fix"] == create_command("default", missing)
        assert "search_attributes.refused" in events
    finally:
        await bare.shutdown()
    # One command per attribute: the CLI registers only the first `--name` of a command.
    assert create_command("default").split(" && ") == [
        f"temporal operator search-attribute create --namespace default --name {name} --type {kind}"
        for name, kind in [
            ("OrgId", "Keyword"),
            ("DefinitionId", "Keyword"),
            ("DefinitionVersion", "Int"),
            ("ContactId", "Keyword"),
            ("BytedashStatus", "Keyword"),
        ]
    ]


async def test_the_recorded_indexed_history_replays_and_depends_on_its_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """record_search_attribute_histories.py: the upserts of a new history replay only because
    the code asks `search-attributes`; histories from before it (test_replay.py) have none."""
    path = Path(__file__).resolve().parents[2] / "histories" / "execution_indexed.json"
    history = WorkflowHistory.from_json("execution_indexed", path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(history)

    monkeypatch.setattr(engine, "SEARCH_ATTRIBUTES_PATCH", "some-other-change")

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)


async def test_over_http_commands_and_executions_are_found_by_org_contact_and_definition(
    stack: Stack,  # noqa: F811 - the fixture imported above
    temporal_env: WorkflowEnvironment,
) -> None:
    """The API's own starts: the definition's and the contact's command workflows and
    `POST /executions` carry the attributes an operator queries."""
    admin = stack.caller("admin")
    temporal = temporal_env.client
    body = definition(step("go", "wait_for_signal", signal="go"))
    created = await admin.post("/api/v1/definitions?wait=true", json=body)
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    contact = await admin.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    started = await admin.post(
        "/api/v1/executions", json={"definition_id": definition_id, "contact_id": contact_id}
    )
    assert started.status_code in (201, 202), started.text
    workflow_id = f"execution-{started.json()['id']}"

    waiting = await _listed(temporal, f'OrgId = "{admin.org}" AND BytedashStatus = "waiting"')
    assert list(waiting) == [workflow_id]
    assert waiting[workflow_id].get(SEARCH_CONTACT_ID) == contact_id
    # The contact's creation, and the definition's creation and activation, are listed too.
    by_contact = await _listed(
        temporal, f'ContactId = "{contact_id}"', holding=lambda found: len(found) >= 2
    )
    assert workflow_id in by_contact and len(by_contact) == 2
    by_definition = await _listed(
        temporal, f'DefinitionId = "{definition_id}"', holding=lambda found: len(found) >= 3
    )
    assert workflow_id in by_definition and len(by_definition) == 3
    every = set(by_contact) | set(by_definition)
    in_org = await _listed(temporal, f'OrgId = "{admin.org}"', holding=lambda f: every <= set(f))
    assert every <= set(in_org)
    assert await _listed(temporal, f'OrgId = "{new_org()}"', timeout=0.5) == {}
    await temporal.get_workflow_handle(workflow_id).cancel()


async def test_a_parallel_step_whose_branches_all_wait_is_listed_waiting(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    both = {
        "id": "both",
        "type": "parallel",
        "name": "Both",
        "config": {
            "join": "all",
            "branches": [
                {"name": "a", "steps": [step("a_wait", "wait_for_signal", signal="a")]},
                {"name": "b", "steps": [step("b_wait", "wait_for_signal", signal="b")]},
            ],
        },
    }
    body = definition(both, trigger=CONTACT_TRIGGER)
    workflow_id = await _start(client, engine_queue, body, org_id, str(uuid.uuid4()))
    handle = client.get_workflow_handle(workflow_id, result_type=ExecutionResult)
    await until(handle, lambda s: s.status == "waiting")

    waiting = f'OrgId = "{org_id}" AND BytedashStatus = "waiting"'
    assert list(await _listed(client, waiting)) == [workflow_id]
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="a"))
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="b"))
    assert (await handle.result()).status == "completed"
    done = await _listed(client, f'OrgId = "{org_id}" AND BytedashStatus = "completed"')
    assert list(done) == [workflow_id]


def test_the_embedded_dev_server_registers_the_attributes(tmp_path: Path) -> None:
    """`bytedash up` (and the benchmarks, bench/e2e/servers.py) start this server: its
    namespace knows every attribute, so starts carry them."""
    server = EmbeddedTemporal(tmp_path, port=_free_port(), ui_port=_free_port())
    address = server.start()
    try:

        async def missing() -> list[str]:
            client = await Client.connect(address)
            return await missing_search_attributes(client)

        assert asyncio.run(missing()) == []
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_execution_that_continues_as_new_keeps_its_attributes(
    temporal_env: WorkflowEnvironment, engine_worker: Worker, engine_queue: str
) -> None:
    client = temporal_env.client
    org_id, definition_id = f"org-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    marks = [step(f"mark_{n}", "update_status", status="busy") for n in range(6)]
    body = definition(
        *marks,
        step("go", "wait_for_signal", signal="go"),
        statuses=["busy"],
        trigger=CONTACT_TRIGGER,
    )
    execution = execution_input(
        meta=CommandMeta(org_id=org_id, actor="user:7", source="test"),
        execution_id=str(uuid.uuid4()),
        definition_id=definition_id,
        definition_version=1,
        definition=body,
        trigger={"type": "form_submission"},
        payload={"first_name": "Ada"},
    ).model_copy(update={"history_limit": 10})
    started = await start_execution(client, engine_queue, execution, Origin("api"))
    handle = client.get_workflow_handle(started.workflow_id, result_type=ExecutionResult)
    state = await until(handle, lambda s: s.status == "waiting")
    assert state.runs >= 1  # it did continue as new

    query = (
        f'OrgId = "{org_id}" AND DefinitionId = "{definition_id}" AND BytedashStatus = "waiting"'
    )
    listed = await _listed(client, query)
    assert list(listed) == [started.workflow_id]
    assert (
        listed[started.workflow_id].get(SEARCH_CONTACT_ID) == state.outputs["start"]["contact_id"]
    )
    await handle.signal(NAMED_SIGNAL, NamedSignal(name="go"))
    assert (await handle.result()).status == "completed"
