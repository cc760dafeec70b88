"""A worker in a process of its own, for tests that kill it with SIGKILL mid-flight.

It keeps no workflow cache, so it uses no sticky queue: after the kill, the surviving worker
picks its workflow tasks up as soon as they time out rather than after the sticky timeout.

Usage: python -m tests.integration.engine.worker_process DATABASE_URL TEMPORAL_ADDRESS QUEUE
"""

from __future__ import annotations

import asyncio
import sys

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from worker.main import build_worker, connect


async def serve(database_url: str, temporal_address: str, task_queue: str) -> None:
    services = build_services(database_url)
    client = await connect(temporal_address, "default")
    async with build_worker(
        client, services, task_queue, max_cached_workflows=0, outbound=ALLOW_LOOPBACK
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3]))
