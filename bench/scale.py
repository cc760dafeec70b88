"""Scale-out on one machine: ``python -m bench.scale`` from the repo root.

What a user who outgrows one process does is add processes (docs/deployment.md): more workers
(``bytedash up --workers N``) and more API processes (``--api-workers N``), all against one
Temporal and one Postgres. This bench starts one Temporal dev server, then for each
configuration a fresh ``bytedash up`` on its own scratch database, warms it up, and runs
``--rounds`` throughput phases of ``--onboardings`` whole onboardings (signed webhook, review
task visible, task approved, execution completed visible), ``--concurrency`` at a time, the
load of bench.compare. Each phase prints onboardings/s and the CPU milliseconds per onboarding
of every process involved (the stack's process tree by role, the Temporal server, the Postgres
backends of its database); the ``summary:`` line gives each configuration's median rate and
CPU, and its rate as a ratio to the first configuration's, measured in the same run.

On a machine with few cores, processes beyond the cores share them: the figure that says
whether the product scales is the CPU per onboarding (flat when adding processes costs
nothing) beside the rate (which rises only while cores are idle).

Options: ``--configs 1x1,2x1,4x1,2x2`` (workers x API processes), ``--rounds 3``,
``--onboardings 100``, ``--concurrency 20``, ``--warmup 10``. Options it does not know are
passed to every ``bytedash up``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.common import machine
from bench.e2e import stacks
from bench.e2e.cpu import CpuMeter
from bench.e2e.load import Throughput, onboard, throughput
from bench.e2e.onboarding import Polling, Session
from bench.e2e.report import print_throughput
from bench.e2e.sampler import BackendSampler
from bench.e2e.servers import TemporalServer, free_port, scratch_database, temporal_dev_server

SETTLE_SECONDS = 2.0
POLL_FIRST_MS, POLL_CAP_MS = 10.0, 100.0


@dataclass(frozen=True)
class Config:
    workers: int
    api_workers: int

    @classmethod
    def parse(cls, text: str) -> Config:
        workers, _, api = text.partition("x")
        config = cls(int(workers), int(api or "1"))
        if config.workers < 1 or config.api_workers < 1:
            raise ValueError(f"{text!r}: process counts start at 1")
        return config

    @property
    def up_args(self) -> list[str]:
        return ["--workers", str(self.workers), "--api-workers", str(self.api_workers)]

    def __str__(self) -> str:
        return f"{self.workers} worker(s), {self.api_workers} API process(es)"


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


async def _phases(
    running: stacks.Running, temporal: TemporalServer, args: argparse.Namespace
) -> list[Throughput]:
    polling = Polling(POLL_FIRST_MS / 1000, POLL_CAP_MS / 1000)
    meter = CpuMeter(running.roots, temporal.pid, running.database_url)
    results = []
    async with Session(running.target, uuid.uuid4().hex[:6]) as session:
        gate = asyncio.Semaphore(5)

        async def warm(n: int) -> None:
            async with gate:
                await onboard(session, f"warm-{n}", polling)

        await asyncio.gather(*(warm(n) for n in range(args.warmup)))
        for number in range(1, args.rounds + 1):
            await asyncio.sleep(SETTLE_SECONDS)
            sampler = BackendSampler(running.database_url)
            done = await throughput(
                session, meter, sampler, args.onboardings, args.concurrency, polling
            )
            results.append(done)
            print_throughput(f"  round {number} ({_load()})", done)
    return results


def run(args: argparse.Namespace, up_args: list[str]) -> None:
    configs = [Config.parse(text) for text in args.configs.split(",")]
    logs = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"bench.scale on {machine()}; {_load()}; logs in {logs}", flush=True)
    figures: list[tuple[Config, float, float]] = []
    began = time.monotonic()
    with temporal_dev_server() as temporal:
        for config in configs:
            print(f"{config}: bytedash up {' '.join([*config.up_args, *up_args])}", flush=True)
            name = f"up-{config.workers}x{config.api_workers}.log"
            with (
                scratch_database("bench_scale") as database,
                stacks.product(
                    database,
                    temporal.address,
                    free_port(),
                    [*config.up_args, *up_args],
                    logs / name,
                ) as running,
            ):
                results = asyncio.run(_phases(running, temporal, args))
            rate = statistics.median(result.rate for result in results)
            cpu = statistics.median(result.cpu_ms() for result in results)
            figures.append((config, rate, cpu))
    first = figures[0][1]
    parts = [
        f"{c.workers}x{c.api_workers}: {rate:.1f}/s ({rate / first:.2f}x), {cpu:.0f} ms CPU"
        for c, rate, cpu in figures
    ]
    print(
        f"summary: onboardings/s and CPU per onboarding, medians of {args.rounds} rounds"
        f" (workers x API processes, rate as a ratio to the first): {'; '.join(parts)}"
        f" [{time.monotonic() - began:.0f} s]",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="1x1,2x1,4x1,2x2", help="workers x API processes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--onboardings", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10)
    args, up_args = parser.parse_known_args(argv)
    if up_args[:1] == ["--"]:
        up_args = up_args[1:]
    try:
        [Config.parse(text) for text in args.configs.split(",")]
    except ValueError as e:
        parser.error(f"--configs: {e}")
    if min(args.rounds, args.onboardings, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--rounds, --onboardings and --concurrency must be positive")
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    run(args, up_args)


if __name__ == "__main__":
    main()
