"""Temporal's stored history holds no readable contact data, and erasing the contact makes the
history of its workflows unreadable for good, after its running executions were cancelled.

The histories are fetched through the raw API (a client without the codec), exactly as Temporal
stores them, and searched byte for byte for the contact's marker strings.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from application.bundle import Services, build_services
from application.metadata import CommandContext
from application.privacy.codec import SealingCodec, is_sealed
from application.privacy.payload_keys import PayloadKeyErasedError, PayloadKeys
from interfaces.api.app import create_app
from tests.integration.api.conftest import api_settings, serving
from tests.integration.api.support import Caller
from tests.integration.engine.support import change_task, definition, start, step, waiting_at
from tests.support.postgres import PostgresServer
from tests.support.sealed import sealed_client
from worker.contracts import execution_workflow_id
from worker.converter import payload_keys, sealed_data_converter
from worker.erasure_calls import (
    CONTACT_ERASURE_WORKFLOW,
    ContactErasure,
    ErasureOutcome,
    erasure_workflow_id,
)
from worker.main import WORKFLOWS, build_worker

CTX = CommandContext(org_id="org_e", command_id="reader")
HISTORIES = Path(__file__).resolve().parents[2] / "histories"
# One history of each kind of workflow and of the execution's shapes.
CLEAR_HISTORIES = (
    "execution_onboarding_approved",
    "execution_every_step_type",
    "execution_cancelled_by_signal",
    "commands_task_0",
    "commands_scheduled_run",
)


@pytest.fixture(scope="module")
def privacy_db(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    with pg_server.database(template=migrated_template) as url:
        yield url


@pytest.fixture(scope="module")
def privacy_services(privacy_db: str) -> Iterator[Services]:
    services = build_services(privacy_db, pool_size=4)
    yield services
    services.close()


@pytest_asyncio.fixture(scope="module")
async def keys(privacy_db: str) -> AsyncIterator[PayloadKeys]:
    found = payload_keys(privacy_db, None)
    yield found
    await found.close()


@pytest.fixture(scope="module")
def sealed(temporal_env: WorkflowEnvironment, keys: PayloadKeys) -> Client:
    """The product's client: the same server, payloads through the codec."""
    raw = temporal_env.client
    return Client(
        raw.service_client, namespace=raw.namespace, data_converter=sealed_data_converter(keys)
    )


@pytest.fixture(scope="module")
def queue() -> str:
    return f"privacy-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(scope="module")
async def worker(sealed: Client, privacy_services: Services, queue: str) -> AsyncIterator[Worker]:
    running = build_worker(sealed, privacy_services, queue)
    async with running:
        yield running


def _review() -> dict[str, Any]:
    return definition(
        step("review", "assign_task", title="Review {{contact.first_name}}", assign_to="role:a"),
        step("wait", "wait_for_task", task_from_step="review"),
        step(
            "mail",
            "send_email",
            to="{{contact.email}}",
            subject="Hello {{contact.first_name}}",
            body="Thanks",
        ),
    )


async def _stored_history(raw: Client, workflow_id: str) -> bytes:
    """Every event of the workflow's history as Temporal stores it (no codec)."""
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def _sealed_payloads(raw: Client, workflow_id: str) -> list[Payload]:
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    found: list[Payload] = []
    for event in history.events:
        started = event.workflow_execution_started_event_attributes
        found.extend(started.input.payloads)
        found.extend(event.activity_task_scheduled_event_attributes.input.payloads)
        found.extend(event.activity_task_completed_event_attributes.result.payloads)
        found.extend(event.workflow_execution_signaled_event_attributes.input.payloads)
    return found


async def test_histories_hold_no_contact_data_and_erasure_cancels_and_shreds(
    temporal_env: WorkflowEnvironment,
    sealed: Client,
    worker: Worker,
    queue: str,
    keys: PayloadKeys,
    privacy_db: str,
    privacy_services: Services,
) -> None:
    raw = temporal_env.client
    marker = f"Zyxq{uuid.uuid4().hex[:8]}"
    email = f"{marker.lower()}@example.com"
    execution_id, handle = await start(
        sealed,
        queue,
        _review(),
        contact={"first_name": marker, "email": email},
        payload={"answer": f"{marker} likes erasure"},
    )
    state = await waiting_at(handle, "wait")
    (task,) = state.tasks
    contact_id = str(privacy_services.executions.get_execution(CTX, UUID(execution_id)).contact_id)
    # A second execution of the same contact that ends: its history must be shredded too.
    done_id, done = await start(sealed, queue, _review(), contact_id=contact_id)
    done_state = await waiting_at(done, "wait")
    await change_task(
        sealed,
        queue,
        done_state.tasks[0].task_id,
        status="done",
        metadata={"note": f"{marker} approved"},
    )
    await done.result()

    # A step that fails quoting the contact's name (a due date that is no date): the failure's
    # message is sealed too.
    failed_id, failed = await start(
        sealed,
        queue,
        definition(
            step(
                "http",
                "http_request",
                method="GET",
                url="http://127.0.0.1:9/{{contact.first_name}}",
            ),
        ),
        contact_id=contact_id,
    )
    failed_result = await failed.result()
    assert failed_result.status == "failed"

    # Nothing readable in Temporal's stored histories: not the name, not the email, not the
    # task's title, not the signal's metadata, not a failure. The product's client reads it all.
    for workflow_id in (
        execution_workflow_id(execution_id),
        execution_workflow_id(done_id),
        execution_workflow_id(failed_id),
    ):
        stored = await _stored_history(raw, workflow_id)
        assert marker.encode() not in stored
        assert email.encode() not in stored
        payloads = await _sealed_payloads(raw, workflow_id)
        assert payloads and all(is_sealed(p) for p in payloads)
    assert (await waiting_at(handle, "wait")).tasks[0].title == f"Review {marker}"

    # The API's reader of Temporal (GET /commands/{workflow_id}) reads the sealed workflow.
    app = create_app(api_settings(privacy_db, queue), temporal_client=sealed)
    async with serving(app) as http:
        reader = Caller(http, CTX.org_id, "admin")
        fate = await reader.get(f"/api/v1/commands/{execution_workflow_id(done_id)}")
        assert fate.status_code == 200, fate.text
        assert fate.json()["status"] == "succeeded"

    # The erasure: the running execution is cancelled with the reason, then the keys go.
    erasure = ContactErasure(
        org_id=CTX.org_id, contact_id=contact_id, actor="user:dpo", reason="Art. 17 request"
    )
    outcome: ErasureOutcome = await sealed.execute_workflow(
        CONTACT_ERASURE_WORKFLOW,
        erasure,
        id=erasure_workflow_id(contact_id),
        task_queue=queue,
        result_type=ErasureOutcome,
    )
    assert outcome.cancelled == [execution_id]
    assert outcome.still_running == []
    assert outcome.keys_destroyed >= 2
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    execution = privacy_services.executions.get_execution(CTX, UUID(execution_id))
    assert execution.status == "cancelled"
    assert execution.error == "contact erased: Art. 17 request"
    assert privacy_services.tasks.get_task(CTX, UUID(task.task_id)).status == "cancelled"

    # Afterwards no process can open those histories, however it asks; the reason is named.
    # (Every process forgets destroyed keys within a minute; a new one never had them.)
    async with sealed_client(raw, privacy_db) as fresh_client:
        fresh = fresh_client.data_converter.payload_codec
        assert isinstance(fresh, SealingCodec)
        for workflow_id in (execution_workflow_id(execution_id), execution_workflow_id(done_id)):
            payloads = await _sealed_payloads(raw, workflow_id)
            with pytest.raises(PayloadKeyErasedError, match=r"Art\. 17 request"):
                await fresh.decode(payloads[:1])
        # Replaying the history (what a worker does, and Temporal's replay tooling) fails at
        # once on the erased input rather than running on wrong data.
        erased_history = await raw.get_workflow_handle(
            execution_workflow_id(execution_id)
        ).fetch_history()
        replayer = Replayer(workflows=WORKFLOWS, data_converter=fresh_client.data_converter)
        replayed = await replayer.replay_workflow(erased_history, raise_on_replay_failure=False)
        # (Its message is sealed like every failure's; the decode above names the erasure.)
        assert replayed.replay_failure is not None
        # The API cannot tell whose the erased workflow was any more: it is unknown, as after
        # Temporal's retention (404, not a 500).
        app = create_app(api_settings(privacy_db, queue), temporal_client=fresh_client)
        async with serving(app) as http:
            reader = Caller(http, CTX.org_id, "admin")
            gone = await reader.get(f"/api/v1/commands/{execution_workflow_id(done_id)}")
            assert gone.status_code == 404, gone.text
    with psycopg.connect(privacy_db) as conn:
        reasons = conn.execute(
            "SELECT workflow_id, destroyed_reason FROM temporal_payload_keys"
            " WHERE destroyed_at IS NOT NULL"
        ).fetchall()
    assert {w for w, _ in reasons} >= {
        execution_workflow_id(execution_id),
        execution_workflow_id(done_id),
    }
    assert all(r == f"contact {contact_id} erased: Art. 17 request" for _, r in reasons)

    # The erasure's own history stays readable: it holds ids, not the person.
    erasure_run = sealed.get_workflow_handle(
        erasure_workflow_id(contact_id), result_type=ErasureOutcome
    )
    assert await erasure_run.result() == outcome


async def test_histories_recorded_in_clear_replay_under_the_sealed_converter(
    database_url: str,
) -> None:
    """Executions started before the codec (payloads in clear) go on under a sealed worker:
    clear payloads pass through the codec, and recorded histories of each kind replay (all of
    them replay in tests/integration/engine/test_replay.py, under the plain converter)."""
    histories = [
        WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
        for name in CLEAR_HISTORIES
    ]
    keys = payload_keys(database_url, None)
    try:
        replayer = Replayer(workflows=WORKFLOWS, data_converter=sealed_data_converter(keys))
        failures: dict[str, str] = {}
        for history in histories:
            replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if replayed.replay_failure is not None:
                failures[history.workflow_id] = str(replayed.replay_failure)
    finally:
        await keys.close()
    assert failures == {}


async def test_the_api_seals_what_it_hands_temporal(
    temporal_env: WorkflowEnvironment, worker: Worker, queue: str, privacy_db: str
) -> None:
    """The API's own client (connected from its settings, not injected) seals the command's
    input and memo: Temporal's copy of a contact's creation holds no part of the person."""
    raw = temporal_env.client
    marker = f"Apiq{uuid.uuid4().hex[:8]}"
    address = str(raw.service_client.config.target_host)
    app = create_app(api_settings(privacy_db, queue, temporal_address=address))
    async with serving(app) as http:
        created = await Caller(http, CTX.org_id, "admin").post(
            "/api/v1/contacts", json={"first_name": marker, "email": f"{marker}@example.com"}
        )
    assert created.status_code in (201, 202), created.text
    workflow_id = created.json()["workflow_id"]
    assert workflow_id.startswith("contact-create-")
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert all(is_sealed(p) for p in started.input.payloads)
    assert all(is_sealed(p) for p in started.memo.fields.values())
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert marker.encode() not in stored
    assert marker.lower().encode() not in stored
