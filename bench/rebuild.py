"""Rebuild benchmark: ``python -m bench.rebuild`` from the repo root.

Generates 1,000,000 realistic events in SQL (100,000 contacts, tasks and executions; ten events
per trio: bench/synthetic.py), then rebuilds the contacts, tasks and
executions projections from position zero with the admin tooling — aside, indexed, caught up and
swapped in, exactly what ``bytedash projections rebuild NAME`` does — and compares the time with
a binary COPY of the very rows the rebuild produced into empty copies of the tables (same
indexes): the floor Postgres sets on this machine for writing that read model.

Each mode runs on the same events, one after the other (the later ones replace a full live
model, as a rebuild in production does): ``sequential`` (one projection after another),
``processes`` (one process per projection, as three ``bytedash projections rebuild`` would),
``threads`` (one process; slower than sequential on two cores: decoding events is GIL-bound
Python, and threads only add switching).

The aim (issue 9): 1,000,000 events rebuilt within 30 s. The COPY floor is measured in the same
run, after the rebuilds, so the ratio holds on a busy machine where the seconds do not.

Options: ``--units N`` (default 100000: ten events each), ``--batch-size N`` (default: the
rebuild's own), ``--modes a,b`` (default ``sequential,processes``).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from time import perf_counter

import psycopg
import structlog

from bench.catchup import copy_floor
from bench.common import line, machine, scratch_database, timed
from bench.synthetic import append_synthetic
from interfaces.heap import YOUNG_THRESHOLD_BATCHES, settle
from projections.admin import RebuildReport, rebuild_projection
from projections.admin.rebuild import DEFAULT_BATCH_SIZE

PROJECTIONS = ("contacts", "tasks", "executions")
MODES = ("sequential", "processes", "threads")
AIM_SECONDS = 30.0


def generate(url: str, units: int) -> float:
    """Append ``units * 10`` events; the secondary indexes of ``events`` are built afterwards,
    in bulk, which is faster than maintaining them row by row (same end state)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events'"
            " AND indexname NOT IN ('events_pkey', 'events_position_idx')"
        ).fetchall()
        for name, _ in rows:
            conn.execute(f'DROP INDEX "{name}"'.encode())

        def fill() -> None:
            append_synthetic(url, units)
            for _, definition in rows:
                conn.execute(str(definition).encode())
            conn.execute("VACUUM ANALYZE events")

        return timed(fill)


def rebuild_one(url: str, name: str, batch_size: int) -> RebuildReport:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    settle(young_threshold=YOUNG_THRESHOLD_BATCHES)  # as `bytedash projections rebuild` does
    return rebuild_projection(url, name, batch_size=batch_size)


def rebuild_all(url: str, batch_size: int, mode: str) -> tuple[float, list[RebuildReport]]:
    """Rebuild the three projections one after another, or at once in threads or processes."""
    n = len(PROJECTIONS)
    arguments = ([url] * n, list(PROJECTIONS), [batch_size] * n)
    started = perf_counter()
    if mode == "sequential":
        reports = [rebuild_one(url, name, batch_size) for name in PROJECTIONS]
    elif mode == "threads":
        with ThreadPoolExecutor(n) as threads:
            reports = list(threads.map(rebuild_one, *arguments))
    else:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n, mp_context=spawn) as processes:
            reports = list(processes.map(rebuild_one, *arguments))
    return perf_counter() - started, reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--modes", default="sequential,processes")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"bench/rebuild.py on {machine()}", flush=True)
    results: dict[str, float] = {}
    with scratch_database() as url:
        events = args.units * 10
        print(f"generating {events:,} events", flush=True)
        line("generated (SQL, events indexes built after)", f"{generate(url, args.units):.1f} s")
        for mode in modes:
            print(f"rebuild of {', '.join(PROJECTIONS)} from position 0: {mode}", flush=True)
            elapsed, reports = rebuild_all(url, args.batch_size, mode)
            for r in reports:
                line(
                    f"{r.name} ({r.events_applied:,} of its events)",
                    f"{r.seconds:.1f} s, {events / r.seconds:,.0f} store events/s,"
                    f" swap {r.swap_seconds * 1000:.0f} ms",
                )
            line("all three, wall clock", f"{elapsed:.1f} s, {events / elapsed:,.0f} events/s")
            results[mode] = elapsed
        copy_time, rows = copy_floor(url, PROJECTIONS)
        line(f"COPY of the resulting {rows:,} rows (binary, all indexes)", f"{copy_time:.2f} s")
        for mode, elapsed in results.items():
            line(f"ratio rebuild ({mode}) / COPY", f"{elapsed / copy_time:.1f}x")
    figures = "; ".join(
        f"{mode} {elapsed:.1f} s = {events / elapsed:,.0f} events/s "
        f"({elapsed / copy_time:.1f}x COPY)"
        for mode, elapsed in results.items()
    )
    verdict = "within" if min(results.values()) < AIM_SECONDS else "OVER"
    print(
        f"summary: rebuild of contacts+tasks+executions from {events:,} events: {figures}; "
        f"{verdict} the {AIM_SECONDS:.0f} s aim",
        flush=True,
    )


if __name__ == "__main__":
    main()
