"""The read API under load, for ``python -m bench.api --load`` (see bench/api.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import machine
from bench.e2e import stacks
from bench.e2e.cpu import CpuMeter
from bench.e2e.onboarding import Polling, Session, Target
from bench.e2e.servers import free_port, scratch_database, temporal_dev_server

AIM_RATE = 500.0
AIM_P99_MS = 10.0
CONNECTIONS = 32
"""Client connections of the open loop: enough that requests never wait for one at the aim."""
WRK_CONNECTIONS = 8
WRK_SECONDS = 10


@dataclass(frozen=True)
class OpenLoop:
    rate: float
    """Requests sent per second (as scheduled)."""
    latencies: list[float]
    """Seconds from each request's due time to its whole answer."""
    errors: int
    api_cpu: float
    """CPU seconds of the API process(es) over the round."""
    postgres_cpu: float
    client_cpu: float

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def per_request_ms(self, seconds: float) -> float:
        return seconds / max(len(self.latencies), 1) * 1000


@dataclass(frozen=True)
class Capacity:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole answer (no pipelining).
    Hand-written so that the client's own CPU stays small next to the server's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if match is None:
            raise AssertionError(f"answer without Content-Length: {head[:200]!r}")
        await self.reader.readexactly(int(match[1]))
        return status


def _request(host: str, path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


async def _open_loop(
    base: str, token: str, paths: Sequence[str], rate: float, seconds: float
) -> tuple[list[float], int]:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [_request(f"{host}:{port}", path, token) for path in paths]
    free: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        reader, writer = await asyncio.open_connection(host, port)
        free.put_nowait(_Connection(reader, writer))
    latencies: list[float] = []
    errors = 0

    async def one(request: bytes, due: float) -> None:
        nonlocal errors
        connection = await free.get()
        try:
            status = await connection.get(request)
        except (OSError, asyncio.IncompleteReadError, AssertionError):
            errors += 1
            reader, writer = await asyncio.open_connection(host, port)
            connection = _Connection(reader, writer)
        else:
            if status != 200:
                errors += 1
        latencies.append(time.perf_counter() - due)
        free.put_nowait(connection)

    total = int(rate * seconds)
    started = time.perf_counter()
    tasks = []
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[n % len(requests)], due)))
    await asyncio.gather(*tasks)
    while not free.empty():
        free.get_nowait().writer.close()
    return latencies, errors


def open_loop(
    target: Target, meter: CpuMeter, paths: Sequence[str], rate: float, seconds: float
) -> OpenLoop:
    client_before = time.process_time()
    meter.start()
    latencies, errors = asyncio.run(_open_loop(target.base, target.token, paths, rate, seconds))
    spent = meter.stop()
    api = sum(cpu for role, cpu in meter.roles.items() if role == "api")
    return OpenLoop(
        rate=rate,
        latencies=latencies,
        errors=errors,
        api_cpu=api,
        postgres_cpu=spent.get("postgres", 0.0),
        client_cpu=time.process_time() - client_before,
    )


_WRK_SCRIPT = """
local paths = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1], {["Authorization"] = "Bearer %s"})
end
"""


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def capacity(target: Target, paths: Sequence[str], wrk: str) -> Capacity:
    """``wrk`` closed loop: each connection sends its next request as soon as it is answered."""
    quoted = ", ".join(f'"{path}"' for path in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % (quoted, target.token))
    try:
        out = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{WRK_CONNECTIONS}",
                f"-d{WRK_SECONDS}s",
                "--latency",
                "-s",
                script.name,
                target.base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _milliseconds(re.search(r"\n\s+50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _milliseconds(re.search(r"\n\s+99%\s+(\S+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Capacity(rate, p50, p99, int(bad[1]) if bad else 0)


async def _seed(target: Target, executions: int) -> list[str]:
    """Executions started by signed webhooks, each with its contact and review task, visible."""
    run = uuid.uuid4().hex[:6]
    async with Session(target, run) as session:
        ids = [await session.send_webhook(f"{run}-{n}") for n in range(executions)]
        polling = Polling(0.05, 0.5)
        for execution_id in ids:
            await session.review_task(execution_id, polling)
    return ids


def _paths(execution_ids: Sequence[str]) -> list[str]:
    paths = []
    for execution_id in execution_ids:
        paths += [
            "/api/v1/contacts",
            f"/api/v1/tasks?execution_id={execution_id}",
            f"/api/v1/executions/{execution_id}",
        ]
    return paths


def _measure(
    workers: int,
    rates: Sequence[float],
    seconds: float,
    rounds: int,
    executions: int,
    up_args: Sequence[str],
    logs: Path,
) -> tuple[dict[float, list[OpenLoop]], list[Capacity]]:
    """One ``bytedash up`` with `workers` API processes: every round, each rate, then wrk."""
    args = [*up_args, "--api-workers", str(workers)] if workers > 1 else list(up_args)
    wrk = shutil.which("wrk")
    loops: dict[float, list[OpenLoop]] = {rate: [] for rate in rates}
    capacities: list[Capacity] = []
    print(f"bytedash up {' '.join(args) or '(no flags)'}", flush=True)
    with (
        temporal_dev_server() as temporal,
        scratch_database("bench_api") as database,
        stacks.product(
            database, temporal.address, free_port(), args, logs / f"up-{workers}.log"
        ) as product,
    ):
        target = product.target
        ids = asyncio.run(_seed(target, executions))
        paths = _paths(ids)
        meter = CpuMeter(product.roots, temporal.pid, database)
        print(
            f"  {len(ids)} executions (each with a contact and a review task); the reads in turn:"
            " GET /contacts, GET /tasks?execution_id=, GET /executions/{id}",
            flush=True,
        )
        open_loop(target, meter, paths, min(rates), 2.0)  # warm-up: pools, plans, caches
        for n in range(1, rounds + 1):
            for rate in rates:
                loop = open_loop(target, meter, paths, rate, seconds)
                loops[rate].append(loop)
                print(
                    f"  round {n}: {rate:.0f} requests/s for {seconds:.0f} s (load average"
                    f" {os.getloadavg()[0]:.1f}): p50 {loop.percentile(50):.1f} ms,"
                    f" p99 {loop.percentile(99):.1f} ms, max {loop.percentile(100):.1f} ms,"
                    f" {loop.errors} errors; CPU per request: API"
                    f" {loop.per_request_ms(loop.api_cpu):.2f} ms,"
                    f" Postgres {loop.per_request_ms(loop.postgres_cpu):.2f} ms"
                    f" (this client {loop.per_request_ms(loop.client_cpu):.2f} ms)",
                    flush=True,
                )
            if wrk is not None:
                cap = capacity(target, paths, wrk)
                capacities.append(cap)
                print(
                    f"  round {n}: capacity (wrk, {WRK_CONNECTIONS} connections, closed loop):"
                    f" {cap.requests_per_second:,.0f} requests/s, p50 {cap.p50_ms:.1f} ms,"
                    f" p99 {cap.p99_ms:.1f} ms, {cap.non_2xx} non-2xx",
                    flush=True,
                )
    return loops, capacities


def run_load(
    rates: Sequence[float],
    seconds: float,
    rounds: int,
    executions: int,
    workers: Sequence[int],
    up_args: Sequence[str],
) -> None:
    up_args = [a for a in up_args if a != "--"]
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    logs = Path(tempfile.mkdtemp(prefix="bench-api-"))
    print(
        f"bench.api --load on {machine()}, load average {os.getloadavg()[0]:.1f}; logs in {logs}",
        flush=True,
    )
    if shutil.which("wrk") is None:
        print("  wrk not found: no capacity figures (Debian: apt-get install -y wrk)", flush=True)
    parts = []
    base_capacity: float | None = None
    for count in workers:
        loops, capacities = _measure(count, rates, seconds, rounds, executions, up_args, logs)
        figures = []
        for rate, runs in loops.items():
            p50 = statistics.median(run.percentile(50) for run in runs)
            p99 = statistics.median(run.percentile(99) for run in runs)
            api = statistics.median(run.per_request_ms(run.api_cpu) for run in runs)
            met = p99 <= AIM_P99_MS and not any(run.errors for run in runs)
            aim = f" ({'meets' if met else 'MISSES'} p99 <= {AIM_P99_MS:.0f} ms)"
            figures.append(
                f"{rate:.0f}/s p50 {p50:.1f} ms p99 {p99:.1f} ms"
                f"{aim if rate == AIM_RATE else ''}, API CPU {api:.2f} ms/request"
            )
        if capacities:
            most = statistics.median(c.requests_per_second for c in capacities)
            base_capacity = base_capacity or most
            figures.append(f"capacity {most:,.0f}/s ({most / base_capacity:.2f}x the first)")
        parts.append(f"{count} API process(es): {', '.join(figures)}")
    print(f"summary: reads, medians of {rounds} rounds; {'; '.join(parts)}", flush=True)
