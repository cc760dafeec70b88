"""The product against a hand-written service of the same onboarding, in one run:
``python -m bench.compare`` from the repo root (``--help`` for the options; options it does not
know are passed to ``bytedash up``, e.g. ``python -m bench.compare --rounds 5 -- --workers 2``).

It starts one Temporal dev server and makes two databases on the Postgres server of
DATABASE_URL (else 127.0.0.1:5432), then both sides, each as its own processes: ``bytedash up``
as a user starts it, and the hand-written FastAPI + Temporal + SQL service of bench/e2e/. Then,
round after round, alternating which side goes first so that the machine's noise falls on both:

- signed webhook → execution and review task visible, p50 and p99, at 5 requests/s for 20 s;
- whole onboardings per second, 100 of them 20 at a time (webhook, task visible, task completed
  approved, execution completed visible), with the CPU milliseconds per onboarding of every
  process involved: the side's process tree, the Temporal server, the Postgres backends of the
  side's database.

It prints each round, then product / hand-written ratios (the median of the rounds' ratios) beside
their aims, and a final ``summary:`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from bench.e2e import stacks
from bench.e2e.cpu import CpuMeter
from bench.e2e.history import history_shape
from bench.e2e.load import latency, onboard, read_cost, throughput
from bench.e2e.onboarding import Polling, Session
from bench.e2e.report import (
    HANDWRITTEN,
    PRODUCT,
    Rounds,
    line,
    print_comparison,
    print_latency,
    print_throughput,
)
from bench.e2e.sampler import BackendSampler
from bench.e2e.servers import (
    TemporalServer,
    free_port,
    postgres_url,
    scratch_database,
    temporal_dev_server,
)
from bench.e2e_baseline import SCHEMA

SETTLE_SECONDS = 2.0
HISTORIES = 5  # executions whose Temporal history is read back after each phase


def machine() -> str:
    with psycopg.connect(postgres_url()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {row[0] if row else '?'}"
    )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description="The product against a hand-written service, side by side in one run.",
        epilog="Options not listed here are passed to `bytedash up` (after a `--` if you like).",
        allow_abbrev=False,
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both loads per side")
    parser.add_argument("--rate", type=float, default=5.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="of webhooks at --rate")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="latency polling interval")
    parser.add_argument("--onboardings", type=int, default=100, help="per throughput phase")
    parser.add_argument("--concurrency", type=int, default=20, help="onboardings in flight")
    parser.add_argument(
        "--throughput-poll-ms",
        type=float,
        nargs=2,
        default=(20.0, 250.0),
        metavar=("FIRST", "CAP"),
        help="throughput polling: first interval, growing to the cap",
    )
    parser.add_argument("--warmup", type=int, default=10, help="onboardings per side first")
    parser.add_argument(
        "--reads", type=int, default=200, help="GETs of each polled path, for their API CPU"
    )
    parser.add_argument(
        "--hand-written-processes",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: the hand-written API and worker as two processes; 1: both in one",
    )
    args, up_args = parser.parse_known_args(argv)
    if up_args[:1] == ["--"]:
        up_args = up_args[1:]
    if args.rounds < 1 or args.onboardings < 1 or args.concurrency < 1 or args.rate <= 0:
        parser.error("--rounds, --onboardings, --concurrency and --rate must be positive")
    return args, up_args


async def measure(
    args: argparse.Namespace, sides: dict[str, stacks.Running], temporal: TemporalServer
) -> Rounds:
    run = uuid.uuid4().hex[:6]
    first, cap = args.throughput_poll_ms
    polling = Polling(first / 1000, cap / 1000)
    rounds = Rounds()
    async with contextlib.AsyncExitStack() as stack:
        sessions = {
            label: await stack.enter_async_context(Session(running.target, run))
            for label, running in sides.items()
        }
        meters = {
            label: CpuMeter(running.roots, temporal.pid, running.database_url)
            for label, running in sides.items()
        }
        for label, session in sessions.items():  # connections, caches, the sandbox's imports
            gate = asyncio.Semaphore(5)

            async def warm(
                n: int, session: Session = session, gate: asyncio.Semaphore = gate
            ) -> None:
                async with gate:
                    await onboard(session, f"warm-{n}", polling)

            await asyncio.gather(*(warm(n) for n in range(args.warmup)))
            print(f"  {label}: warmed up with {args.warmup} onboardings", flush=True)
        for number in range(args.rounds):
            order = list(sides) if number % 2 == 0 else list(reversed(sides))
            print(
                f"round {number + 1}/{args.rounds} ({', then '.join(order)}; {load()})", flush=True
            )
            for label in order:
                await asyncio.sleep(SETTLE_SECONDS)
                result = await latency(
                    sessions[label], args.rate, args.seconds, args.poll_ms / 1000
                )
                rounds.add_latency(label, result)
                print_latency(label, result)
            for label in order:
                await asyncio.sleep(SETTLE_SECONDS)
                sampler = BackendSampler(sides[label].database_url)
                done = await throughput(
                    sessions[label],
                    meters[label],
                    sampler,
                    args.onboardings,
                    args.concurrency,
                    polling,
                )
                rounds.add_throughput(label, done)
                print_throughput(label, done)
                middle = done.workflow_ids[len(done.workflow_ids) // 2 :][:HISTORIES]
                shape = await history_shape(
                    temporal.address,
                    [execution for execution, _ in middle],
                    [review for _, review in middle if review is not None],
                )
                line(f"{label}: Temporal history per onboarding", shape.describe())
        for label, session in sessions.items():
            cost = await read_cost(session, meters[label], args.reads)
            line(
                f"{label}: API CPU per read, sent one at a time",
                f"GET /executions/{{id}} {cost.execution:.1f} ms,"
                f" GET /tasks?execution_id= {cost.tasks:.1f} ms ({args.reads} each)",
            )
    return rounds


def main(argv: list[str] | None = None) -> None:
    args, up_args = parse(argv)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    logs = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    print(f"bench.compare on {machine()}; {load()}", flush=True)
    print(
        f"  bytedash up {' '.join(up_args) or '(no flags)'} against the hand-written service"
        f" ({args.hand_written_processes} process(es)); logs in {logs}",
        flush=True,
    )
    began = time.monotonic()
    with (
        temporal_dev_server() as temporal,
        scratch_database("bench_product") as product_db,
        scratch_database("bench_handwritten", SCHEMA) as handwritten_db,
        stacks.product(
            product_db, temporal.address, free_port(), up_args, logs / "bytedash-up.log"
        ) as product,
        stacks.handwritten(
            handwritten_db,
            temporal.address,
            free_port(),
            args.hand_written_processes,
            logs / "hand-written.log",
        ) as handwritten,
    ):
        print(
            f"  both up after {time.monotonic() - began:.0f} s, same Temporal dev server"
            f" ({temporal.address}) and Postgres server",
            flush=True,
        )
        rounds = asyncio.run(measure(args, {PRODUCT: product, HANDWRITTEN: handwritten}, temporal))
    print(print_comparison(rounds, args.rounds), flush=True)


if __name__ == "__main__":
    main()
