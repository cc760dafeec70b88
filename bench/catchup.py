"""Projector catch-up against COPY: ``python -m bench.catchup`` from the repo root.

Appends synthetic events (`bench.synthetic`: ten per unit, a contact, a task and an execution),
then, in each of ``--runs`` rounds over the same events: for each mode, empties the read models
and catches every projection up from position 0; then times a binary COPY of exactly the rows
produced into empty copies of the same tables (same indexes), the floor Postgres sets for
writing them. Modes: ``prefetch`` (one `Projector`, as ``bytedash projector`` runs: it reads the
next batch ahead on a second connection), ``plain`` (the same without reading ahead: one
connection, a batch at a time), ``processes`` (one process per projection, as
``bytedash projector --only NAME`` for each would run) and ``spread`` (the projections spread
over a process per core, as ``bytedash up --split-projector`` runs them). Every line gives the
catch-up's wall time, events/s, its ratio to the round's COPY, and CPU per event of the
projector process(es) and of the Postgres backends serving them; the final ``summary:`` line
gives the medians.

`catchup_against_copy(url, runs, modes=...)` is the same measurement on a database that already
holds events, for other benches (``bench.store``).

Options: ``--units N`` (default 10000, ten events each), ``--runs N`` (default 5),
``--modes a,b`` (default ``prefetch,plain,processes,spread``), ``--batch-size N`` (default: the
projector's own).
"""

from __future__ import annotations

import argparse
import io
import logging
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from typing import Any

import psycopg
import structlog

from bench.common import line, machine, scratch_database
from bench.synthetic import append_synthetic
from interfaces.heap import YOUNG_THRESHOLD_BATCHES, settle
from projections import Projector, default_projections, projection_named, spread


def read_model_tables() -> tuple[str, ...]:
    """Every table the default projections write (a new read model is measured with the rest)."""
    return tuple(dict.fromkeys(t for p in default_projections() for t in p.tables.values()))


AIM_EVENTS_PER_SECOND = 50_000
_TICKS = os.sysconf("SC_CLK_TCK")


MODES = {
    "prefetch": "one process (bytedash projector)",
    "plain": "one process, no read-ahead",
    "processes": "a process per projection",
    "spread": "a process per core (up --split-projector)",
}


@dataclass(frozen=True)
class CatchupRun:
    mode: str
    events: int
    """Events in the store the catch-up passed."""
    seconds: float
    cpu_client: float
    """CPU seconds of the projector process(es) during the catch-up."""
    cpu_server: float
    """CPU seconds of the Postgres backends of the scratch database during the catch-up."""
    copy_seconds: float
    """Binary COPY of the rows the catch-up produced, into empty copies of the tables, measured
    in the same run."""
    rows: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def ratio(self) -> float:
        return self.seconds / self.copy_seconds

    def cpu_us_per_event(self) -> tuple[float, float]:
        return self.cpu_client / self.events * 1e6, self.cpu_server / self.events * 1e6


def backend_cpu(conn: psycopg.Connection[Any], others_than: int | None = None) -> float:
    """CPU seconds used so far by the backends connected to this database (from /proc: the
    server must run on this machine, as it does for every bench here)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    ).fetchall()
    total = 0
    for (pid,) in rows:
        if pid == others_than:
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _reset_read_models(conn: psycopg.Connection[Any]) -> None:
    tables = ", ".join(read_model_tables())
    conn.execute(f"TRUNCATE {tables}".encode())
    conn.execute("DELETE FROM projection_tracking")
    conn.execute("DELETE FROM projection_parked_events")
    for table in read_model_tables():
        conn.execute(f"VACUUM ANALYZE {table}".encode())


def _events(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def copy_floor(url: str, tables: Iterable[str]) -> tuple[float, int]:
    """Seconds of a binary COPY of `tables`' current rows into empty copies (same indexes),
    in one transaction, and how many rows that was."""
    dumps: dict[str, bytes] = {}
    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)".encode()) as out:
                for chunk in out:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
            count = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
            rows += int(count[0]) if count else 0
            conn.execute(f"DROP TABLE IF EXISTS {table}_copy".encode())
            conn.execute(f"CREATE TABLE {table}_copy (LIKE {table} INCLUDING ALL)".encode())
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.transaction():
            for table, data in dumps.items():
                statement = f"COPY {table}_copy FROM STDIN (FORMAT binary)".encode()
                with conn.cursor().copy(statement) as into:
                    into.write(data)
        seconds = time.perf_counter() - started
        for table in dumps:
            conn.execute(f"DROP TABLE {table}_copy".encode())
    return seconds, rows


def _projector(url: str, names: list[str], batch_size: int | None, prefetch: bool) -> Projector:
    # The garbage collector as `bytedash projector` sets it (interfaces/heap.py).
    settle(young_threshold=YOUNG_THRESHOLD_BATCHES)
    projections = [projection_named(name) for name in names]
    if batch_size is None:
        return Projector(url, projections, prefetch=prefetch)
    return Projector(url, projections, batch_size=batch_size, prefetch=prefetch)


def _in_process(
    url: str, batch_size: int | None, prefetch: bool, conn: psycopg.Connection[Any]
) -> tuple[float, float, float]:
    names = [p.name for p in default_projections()]
    own = conn.info.backend_pid
    with _projector(url, names, batch_size, prefetch) as projector:
        cpu_before = time.process_time()
        server_before = backend_cpu(conn, others_than=own)
        started = time.perf_counter()
        projector.run_until_caught_up()
        seconds = time.perf_counter() - started
        cpu_client = time.process_time() - cpu_before
        # Sampled while the projector's connections are still open (the `with` closes them).
        server = backend_cpu(conn, others_than=own) - server_before
    return seconds, cpu_client, server


def _child(
    url: str,
    names: list[str],
    batch_size: int | None,
    go: EventType,
    results: Queue[tuple[float, float]],
    done: EventType,
) -> None:
    # Errors only: each child would repeat the warnings its parent printed once (a server
    # without autovacuum is told once per projector process).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with _projector(url, names, batch_size, True) as projector:
        go.wait()
        cpu_before = time.process_time()
        projector.run_until_caught_up()
        results.put((time.perf_counter(), time.process_time() - cpu_before))
        done.wait()  # keep the connections (and their backends' CPU figures) until sampled


def _in_processes(
    url: str, batch_size: int | None, conn: psycopg.Connection[Any], groups: list[list[str]]
) -> tuple[float, float, float]:
    """A process per group of projections, started (and imported) before the clock starts, as
    ``bytedash projector --only NAME,...`` for each would run."""
    spawn = multiprocessing.get_context("spawn")
    go, done = spawn.Event(), spawn.Event()
    results: Queue[tuple[float, float]] = spawn.Queue()
    children = [
        spawn.Process(target=_child, args=(url, names, batch_size, go, results, done))
        for names in groups
    ]
    for child in children:
        child.start()
    time.sleep(3.0)  # imported and connected
    own = conn.info.backend_pid
    server_before = backend_cpu(conn, others_than=own)
    started = time.perf_counter()
    go.set()
    finished = [results.get(timeout=600) for _ in children]
    server = backend_cpu(conn, others_than=own) - server_before
    done.set()
    for child in children:
        child.join(60)
    seconds = max(at for at, _ in finished) - started
    return seconds, sum(cpu for _, cpu in finished), server


def catchup_once(url: str, mode: str, *, batch_size: int | None = None) -> tuple[float, ...]:
    """Empty the read models and catch every projection up from 0: (seconds, projector CPU,
    Postgres CPU)."""
    with psycopg.connect(url, autocommit=True) as conn:
        _reset_read_models(conn)
        conn.execute("CHECKPOINT")
        names = [p.name for p in default_projections()]
        if mode == "processes":
            return _in_processes(url, batch_size, conn, [[name] for name in names])
        if mode == "spread":
            return _in_processes(url, batch_size, conn, spread(names, os.cpu_count() or 1))
        return _in_process(url, batch_size, mode == "prefetch", conn)


def catchup_against_copy(
    url: str,
    runs: int = 5,
    *,
    modes: Sequence[str] = ("prefetch",),
    batch_size: int | None = None,
    report: Callable[[CatchupRun], None] | None = None,
) -> list[CatchupRun]:
    """`runs` rounds over the events already in `url`'s store: in each, a catch-up from 0 per
    mode (see MODES), then a binary COPY of the rows they produced, so that each ratio pairs
    figures of the same minutes of a shared machine."""
    with psycopg.connect(url, autocommit=True) as conn:
        events = _events(conn)
    results = []
    for _ in range(runs):
        measured = {mode: catchup_once(url, mode, batch_size=batch_size) for mode in modes}
        copy_seconds, rows = copy_floor(url, read_model_tables())
        for mode, (seconds, client, server) in measured.items():
            run = CatchupRun(mode, events, seconds, client, server, copy_seconds, rows)
            if report is not None:
                report(run)
            results.append(run)
    return results


def print_run(run: CatchupRun) -> None:
    client, server = run.cpu_us_per_event()
    line(
        f"catch-up, {MODES[run.mode]}",
        f"{run.seconds:.2f} s, {run.rate:,.0f} events/s, {run.ratio:.1f}x COPY"
        f" ({run.copy_seconds:.2f} s for {run.rows:,} rows); CPU/event {client:.1f} us"
        f" projector + {server:.1f} us Postgres",
    )


def summary(results: list[CatchupRun]) -> str:
    parts = []
    for mode in dict.fromkeys(r.mode for r in results):
        runs = [r for r in results if r.mode == mode]
        rate = statistics.median(r.rate for r in runs)
        ratio = statistics.median(r.ratio for r in runs)
        client = statistics.median(r.cpu_us_per_event()[0] for r in runs)
        server = statistics.median(r.cpu_us_per_event()[1] for r in runs)
        parts.append(
            f"{MODES[mode]} {rate:,.0f} events/s = {ratio:.1f}x COPY, CPU/event {client:.1f} us"
            f" + {server:.1f} us Postgres"
        )
    best = max(
        statistics.median(r.rate for r in results if r.mode == mode)
        for mode in {r.mode for r in results}
    )
    verdict = "meets" if best >= AIM_EVENTS_PER_SECOND else "MISSES"
    return (
        f"catch-up of {results[0].events:,} events, medians of {len(results) // len(parts)}"
        f" runs: {'; '.join(parts)} ({verdict} the {AIM_EVENTS_PER_SECOND:,}/s aim)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--modes", default="prefetch,plain,processes,spread")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"bench/catchup.py on {machine()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with scratch_database() as url:
        events = append_synthetic(url, args.units)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE events")
        print(f"{events:,} synthetic events; {args.runs} runs", flush=True)
        results = catchup_against_copy(
            url, args.runs, modes=modes, batch_size=args.batch_size, report=print_run
        )
    print(f"summary: {summary(results)}", flush=True)


if __name__ == "__main__":
    main()
