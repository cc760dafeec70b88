"""A worker in a process of its own whose log lines go, as JSON, to its stderr: the run whose
logs test_log_masking.py searches. It shares the secrets tests' master key and allows loopback
(the test's local endpoint).

Usage: python -m tests.integration.secrets.logged_worker DATABASE_URL TEMPORAL_ADDRESS QUEUE
"""

from __future__ import annotations

import asyncio
import base64
import sys

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from interfaces.logging import configure_logging
from tests.integration.api.support import MASTER_KEY
from worker.main import build_worker, connect


async def serve(database_url: str, temporal_address: str, task_queue: str) -> None:
    configure_logging("json", level="INFO")
    services = build_services(database_url)
    client = await connect(temporal_address, "default")
    async with build_worker(
        client,
        services,
        task_queue,
        master_key=base64.b64decode(MASTER_KEY),
        outbound=ALLOW_LOOPBACK,
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3]))
