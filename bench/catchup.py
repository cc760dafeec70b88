"""Projector catch-up against COPY: ``python -m bench.catchup`` from the repo root.

Appends synthetic events (`bench.synthetic`: ten per unit, a contact, a task and an execution),
then, several times over the same events: empties the read models, lets one `Projector` (what
``bytedash projector`` runs) catch up from position 0 with every projection, and times a binary
COPY of exactly the rows it produced into empty copies of the same tables (same indexes). Each
run prints the catch-up's wall time, events/s, CPU per event (the projector process, and the
Postgres backend serving it), the COPY's time and the ratio of the two, measured side by side;
the final ``summary:`` line gives the medians.

`catchup_against_copy(url, runs)` is the same measurement on a database that already holds
events, for other benches (``bench.store``).

Options: ``--units N`` (default 10000, ten events each), ``--runs N`` (default 5),
``--batch-size N`` (default: the projector's own).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from bench.common import line, machine, scratch_database
from bench.synthetic import append_synthetic
from projections import Projector, default_projections

READ_MODEL_TABLES = ("contacts", "tasks", "executions", "definitions", "definition_versions")
AIM_EVENTS_PER_SECOND = 50_000
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CatchupRun:
    events: int
    """Events in the store the catch-up passed."""
    seconds: float
    cpu_client: float
    """CPU seconds of this process (the projector) during the catch-up."""
    cpu_server: float
    """CPU seconds of the Postgres backends of the scratch database during the catch-up."""
    copy_seconds: float
    """Binary COPY of the rows the catch-up produced, into empty copies of the tables."""
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
    tables = ", ".join(READ_MODEL_TABLES)
    conn.execute(f"TRUNCATE {tables}".encode())
    conn.execute("DELETE FROM projection_tracking")
    conn.execute("DELETE FROM projection_parked_events")
    for table in READ_MODEL_TABLES:
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


def catchup_once(url: str, *, batch_size: int | None = None) -> CatchupRun:
    """Empty the read models, catch every projection up from 0 in one Projector, then COPY."""
    with psycopg.connect(url, autocommit=True) as conn:
        _reset_read_models(conn)
        events = _events(conn)
        conn.execute("CHECKPOINT")
        projector = (
            Projector(url, default_projections())
            if batch_size is None
            else Projector(url, default_projections(), batch_size=batch_size)
        )
        with projector:
            own = conn.info.backend_pid
            cpu_before = time.process_time()
            server_before = backend_cpu(conn, others_than=own)
            started = time.perf_counter()
            projector.run_until_caught_up()
            seconds = time.perf_counter() - started
            cpu_client = time.process_time() - cpu_before
            # The projector's backend is still connected (the `with` closes it).
            server = backend_cpu(conn, others_than=own) - server_before
    copy_seconds, rows = copy_floor(url, READ_MODEL_TABLES)
    return CatchupRun(events, seconds, cpu_client, server, copy_seconds, rows)


def catchup_against_copy(
    url: str,
    runs: int = 5,
    *,
    batch_size: int | None = None,
    report: Callable[[CatchupRun], None] | None = None,
) -> list[CatchupRun]:
    """`runs` catch-ups of the events already in `url`'s store, each beside its COPY floor."""
    results = []
    for _ in range(runs):
        run = catchup_once(url, batch_size=batch_size)
        if report is not None:
            report(run)
        results.append(run)
    return results


def print_run(run: CatchupRun) -> None:
    client, server = run.cpu_us_per_event()
    line(
        "catch-up, 4 projections, one process",
        f"{run.seconds:.2f} s, {run.rate:,.0f} events/s, CPU/event {client:.1f} us projector"
        f" + {server:.1f} us Postgres",
    )
    line(f"  COPY of the {run.rows:,} resulting rows", f"{run.copy_seconds:.2f} s")
    line("  ratio catch-up / COPY", f"{run.ratio:.1f}x")


def summary(results: list[CatchupRun]) -> str:
    rate = statistics.median(r.rate for r in results)
    ratio = statistics.median(r.ratio for r in results)
    client = statistics.median(r.cpu_us_per_event()[0] for r in results)
    server = statistics.median(r.cpu_us_per_event()[1] for r in results)
    verdict = "meets" if rate >= AIM_EVENTS_PER_SECOND else "MISSES"
    return (
        f"catch-up of {results[0].events:,} events, median of {len(results)} runs: "
        f"{rate:,.0f} events/s ({verdict} the {AIM_EVENTS_PER_SECOND:,}/s aim), "
        f"{ratio:.1f}x a binary COPY of the same rows; CPU per event {client:.1f} us projector "
        f"+ {server:.1f} us Postgres"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"bench/catchup.py on {machine()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with scratch_database() as url:
        events = append_synthetic(url, args.units)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE events")
        print(f"{events:,} synthetic events; {args.runs} runs", flush=True)
        results = catchup_against_copy(
            url, args.runs, batch_size=args.batch_size, report=print_run
        )
    print(f"summary: {summary(results)}", flush=True)


if __name__ == "__main__":
    main()
