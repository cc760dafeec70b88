"""Concurrent appends: 1, 4 and 16 writer processes, ours against plain INSERTs of the same rows.

Each writer is its own process (as worker processes are in production: one Python process cannot
append from 16 threads at once for the GIL), with its own connection, appending single-event
commands through the real write path (application service → aggregate → recorder →
``events_append_rows``). The floor is the same rows, split the same way, inserted by the same number
of processes with plain psycopg INSERTs (one per transaction) into a copy of the table with the same
indexes and no triggers. Each command here creates a contact, so our append also stores the
contact's data key (crypto-shredding, in the same statement): a second floor inserts each event with
that key row, in one transaction, into copies of both tables. A third run takes the EXCLUSIVE table
lock every append took before migration 0009, to show what it cost as writers were added. All
processes of a run start together at a barrier; a run's figure is events over the slowest writer's
time. Each run also says how many of the machine's cores were busy (all processes, Postgres
included, from /proc/stat between the first writer's start and the last one's end): where they are
all busy, more writers can only share them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import uuid
from multiprocessing.synchronize import Barrier
from time import perf_counter, process_time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from application.bundle import build_services
from application.metadata import CommandContext
from application.services import ContactDraft

COLUMNS = (
    "event_id, originator_id, originator_version, aggregate_type, event_type, topic, data,"
    " org_id, actor, source, workflow_id, workflow_run_id, workflow_type, activity_id,"
    " correlation_id, causation_id, command_id, occurred_at"
)
NAMES = [c.strip() for c in COLUMNS.split(",")]
KEY_COLUMNS = "org_id, contact_id, wrapped_key, master_key_id"
# (wall seconds, CPU seconds of the writer process, /proc/stat busy and total ticks at its
# start, and at its end)
Result = tuple[float, float, tuple[int, int], tuple[int, int]]
Figures = tuple[float, float, float]  # events/s, client CPU ms per event, busy cores


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def _ours(url: str, barrier: Barrier, n: int, wid: int, out: Any) -> None:
    services = build_services(url, pool_size=1)  # one command at a time: one connection
    try:
        services.contacts.create_contact(_ctx(wid, -1), ContactDraft(first_name="warm-up"))
        barrier.wait()
        started, cpu, ticks = perf_counter(), process_time(), machine_ticks()
        for i in range(n):
            services.contacts.create_contact(
                _ctx(wid, i), ContactDraft(first_name=f"W{wid}-{i}", email=f"w{wid}.{i}@ex.com")
            )
        out.put((perf_counter() - started, process_time() - cpu, ticks, machine_ticks()))
    finally:
        services.close()


def _plain(
    url: str,
    barrier: Barrier,
    rows: list[dict[str, Any]],
    table: str,
    lock: bool,
    keys: tuple[str, list[tuple[Any, ...]]] | None,
    out: Any,
) -> None:
    """`keys`: (table, key rows aligned with `rows`): each transaction inserts the contact's
    key row before its event, as the product's append of a new contact's first event does."""
    sql = f"INSERT INTO {table} ({COLUMNS}) VALUES ({', '.join(['%s'] * len(NAMES))})"
    values = [tuple(Jsonb(r[n]) if n == "data" else r[n] for n in NAMES) for r in rows]
    key_sql = (
        f"INSERT INTO {keys[0]} ({KEY_COLUMNS}) VALUES (%s, %s, %s, %s)" if keys else ""
    ).encode()
    key_rows = keys[1] if keys else [None] * len(values)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        barrier.wait()
        started, cpu, ticks = perf_counter(), process_time(), machine_ticks()
        for value, key in zip(values, key_rows, strict=True):
            with conn.transaction():
                if lock:
                    conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE".encode())
                if key is not None:
                    conn.execute(key_sql, key, prepare=True)
                conn.execute(sql.encode(), value, prepare=True)
        out.put((perf_counter() - started, process_time() - cpu, ticks, machine_ticks()))


def _ctx(wid: int, i: int) -> CommandContext:
    return CommandContext(
        org_id="org_bench",
        command_id=f"writers-{wid}-{i}-{uuid.uuid4().hex[:8]}",
        actor="user:bench",
        source="bench",
    )


def _run(target: Any, args_per_writer: list[tuple[Any, ...]]) -> tuple[float, float, float]:
    """Start one process per args tuple, release them together; (slowest wall, total CPU of
    the writers, busy cores of the machine meanwhile)."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(args_per_writer))
    out = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(args[0], barrier, *args[1:], out))
        for args in args_per_writer
    ]
    for p in processes:
        p.start()
    results: list[Result] = [out.get() for _ in processes]
    for p in processes:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a writer process failed (exit {p.exitcode})")
    busy = max(r[3][0] for r in results) - min(r[2][0] for r in results)
    total = max(r[3][1] for r in results) - min(r[2][1] for r in results)
    cores = (os.cpu_count() or 1) * busy / total if total else 0.0
    return max(r[0] for r in results), sum(r[1] for r in results), cores


def _max_position(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def bench_level(url: str, writers: int, total: int) -> dict[str, Figures]:
    """Events/s, CPU ms per event (writer processes) and busy cores for ours, plain (the event
    rows alone), plain+key (each with its contact's key row, in one transaction: the rows our
    append writes for a new contact) and plain+lock."""
    per = total // writers
    first = _max_position(url) + 1
    wall, cpu, cores = _run(_ours, [(url, per, w) for w in range(writers)])
    figures = {"ours": (per * writers / wall, cpu * 1000 / (per * writers), cores)}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE position >= %s AND source = 'bench'"
            # The warm-up's command ids end "-<writer>--1-<hex>" (_ctx(wid, -1)); the first
            # name that told them apart is sealed in the event since crypto-shredding.
            " AND event_type = 'Contact.Created' AND command_id !~ '--1-'"
            " ORDER BY position".encode(),
            (first,),
        ).fetchall()
    with psycopg.connect(url) as conn:
        stored_keys = {
            row[1]: row
            for row in conn.execute(
                f"SELECT {KEY_COLUMNS} FROM contact_keys WHERE contact_id = ANY(%s)".encode(),
                ([r["originator_id"] for r in rows],),
            ).fetchall()
        }
    key_rows = [stored_keys[r["originator_id"]] for r in rows]
    shares = [rows[w::writers] for w in range(writers)]
    key_shares = [key_rows[w::writers] for w in range(writers)]
    for label, lock, with_keys in (
        ("plain", False, False),
        ("plain+key", False, True),
        ("plain+lock", True, False),
    ):
        table = f"events_plain_{writers}_{label.replace('+', '_')}"
        key_table = f"contact_keys_plain_{writers}"
        with psycopg.connect(url, autocommit=True) as conn:
            for name, like in ((table, "events"), (key_table, "contact_keys")):
                conn.execute(f"DROP TABLE IF EXISTS {name}".encode())  # a level measured again
                conn.execute(
                    f"CREATE TABLE {name} (LIKE {like} INCLUDING DEFAULTS INCLUDING IDENTITY"
                    " INCLUDING INDEXES INCLUDING CONSTRAINTS)".encode()
                )
        wall, cpu, cores = _run(
            _plain,
            [
                (url, share, table, lock, (key_table, keys) if with_keys else None)
                for share, keys in zip(shares, key_shares, strict=True)
            ],
        )
        figures[label] = (len(rows) / wall, cpu * 1000 / len(rows), cores)
    return figures
