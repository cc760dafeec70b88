"""A worker with an LLM endpoint in a process of its own, for the test that kills it with SIGKILL
while an llm step's call is in flight (worker_process.py's twin, plus LLM_BASE_URL).

Usage: python -m tests.integration.engine.llm_worker_process DATABASE_URL TEMPORAL_ADDRESS QUEUE
LLM_BASE_URL
"""

from __future__ import annotations

import asyncio
import sys

from application.bundle import build_services
from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import ALLOW_LOOPBACK
from worker.main import build_worker, connect


async def serve(database_url: str, temporal_address: str, task_queue: str, llm_url: str) -> None:
    services = build_services(database_url)
    client = await connect(temporal_address, "default")
    endpoint = LlmEndpoint(llm_url, "sk-process")
    async with build_worker(
        client, services, task_queue, llm=endpoint, max_cached_workflows=0, outbound=ALLOW_LOOPBACK
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:5]))
