"""``bytedash projections …`` as an admin runs it: recorded as an event, then carried out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from temporalio.testing import WorkflowEnvironment

from application.bundle import Services, build_services
from application.metadata import CommandContext
from application.services import ContactDraft
from projections import Projector, default_projections
from tests.support.sealed import sealed_client
from worker.main import build_worker


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


@pytest_asyncio.fixture
async def worker(
    temporal_env: WorkflowEnvironment, services: Services, task_queue: str, database_url: str
) -> AsyncIterator[None]:
    # The CLI seals what it hands Temporal (application/privacy/codec.py), so the worker does too.
    async with (
        sealed_client(temporal_env.client, database_url) as client,
        build_worker(client, services, task_queue),
    ):
        yield


async def _cli(
    env_url: str, temporal_env: WorkflowEnvironment, queue: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": env_url,
        "TEMPORAL_ADDRESS": str(temporal_env.client.service_client.config.target_host),
        "TEMPORAL_TASK_QUEUE": queue,
        "LOG_FORMAT": "json",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "interfaces.cli", "projections", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rebuild_and_verify_are_recorded_and_carried_out(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    worker: None,
    services: Services,
    database_url: str,
) -> None:
    for n in range(20):
        services.contacts.create_contact(
            CommandContext(org_id="org_a", command_id=f"c{n}"), ContactDraft(first_name=f"N{n}")
        )
    with Projector(database_url, default_projections()) as projector:
        projector.run_until_caught_up()
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE contacts SET first_name = 'Tampered' WHERE first_name = 'N3'")

    verified = await _cli(database_url, temporal_env, task_queue, "verify", "contacts")
    assert verified.returncode == 1, verified.stderr
    assert "Tampered" in verified.stdout

    rebuilt = await _cli(database_url, temporal_env, task_queue, "rebuild", "contacts")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt contacts" in rebuilt.stdout
    again = await _cli(database_url, temporal_env, task_queue, "verify", "contacts")
    assert again.returncode == 0, again.stderr

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        names = [r["first_name"] for r in conn.execute("SELECT first_name FROM contacts")]
        actions = conn.execute(
            "SELECT data->>'action' AS action, actor FROM events"
            " WHERE aggregate_type = 'admin_action' ORDER BY position"
        ).fetchall()
    assert "Tampered" not in names and len(names) == 20
    assert [a["action"] for a in actions] == ["verify", "rebuild", "verify"]
    assert all(a["actor"].startswith("operator:") for a in actions)

    unknown = await _cli(database_url, temporal_env, task_queue, "rebuild", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("bytedash: ")
