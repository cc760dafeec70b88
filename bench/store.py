"""Event store and projector benchmark: ``python -m bench.store`` from the repo root.

Prints append throughput through the real write path — application service, aggregate,
eventsourcing recorder — next to plain psycopg INSERTs of the very same rows into a copy of the
table, measured in the same run: single-event commands from 1, 4 and 16 writer processes at once
(bench/writers.py: beside the event rows alone, each event with its contact's key row as our
append writes it, and the old table lock; with the cores busy meanwhile), and 100 events per
transaction; then the sealer's rate over everything appended (the hash chain, now off the write
path); then projector catch-up over 100,000+ events next to a binary COPY of the same read-model
rows (bench/catchup.py), in one process, in a process per projection and spread over a process
per core (``bytedash up --split-projector``); these events carry personal
data sealed as the product writes it, where bench.catchup's synthetic ones are in clear. Ratios
say how much our machinery costs over the floor Postgres sets on this machine. Last, what
encrypting personal data costs (crypto-shredding): the same appends and catch-up into two fresh
stores, one sealing personal data with each contact's key and one writing it in clear
(``build_services(sealing=False)``, the baseline; never a deployment's setting), in turns.

Options: ``--single N`` (default 2000 events per writer level), ``--writers 1,4,16``,
``--batches N`` (default 50, 100 events each), ``--catchup N`` (default 100000 events),
``--catchup-runs N`` (default 3; bench/catchup.py measures each against a binary COPY),
``--catchup-modes`` (default ``prefetch,processes,spread``: bench.catchup's modes), ``--crypto N``
(default 20000 events per store for the encryption comparison, 0: skip it), ``--crypto-commands
N`` (default 1000 one-contact commands per store), ``--crypto-rounds N`` (default 2; the best
round of each is reported).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from application.bundle import Services, build_services
from application.metadata import CommandContext
from bench.catchup import catchup_against_copy, catchup_once, print_run, summary
from bench.common import line, machine, scratch_database, timed
from bench.writers import Figures, bench_level
from domain.contact import Contact
from domain.execution import WorkflowExecution
from domain.task import Task
from projections.chain import seal

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
    markers = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table} ({COLUMNS}) VALUES ({markers})".encode()
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


def bench_chain(url: str) -> tuple[int, float, float]:
    """Seal every event appended so far: (events, seconds, sealer CPU ms per 1,000 events)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cpu = time.process_time()
        started = time.perf_counter()
        sealed = seal(conn)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return sealed, elapsed, cpu * 1000 * 1000 / max(sealed, 1)


def _unit(n: int, at: datetime) -> list[Any]:
    """One contact's worth of realistic history: 19 events over three aggregates."""
    contact = Contact.create(
        contact_id=uuid.uuid4(),
        org_id=f"org_{n % 7}",
        first_name=f"Ada{n}",
        last_name="Lovelace",
        email=f"ada{n}@example.com",
        phone=None,
        fields={"source": "bench"},
        at=at,
    )
    contact.update(changes={"phone": f"+1555{n:07d}"}, at=at)
    contact.update(changes={"fields": {"score": n % 100}}, at=at)
    contact.change_status(status="applicant", at=at)
    execution = WorkflowExecution.create(
        execution_id=uuid.uuid4(),
        org_id=contact.org_id,
        definition_id="def-bench",
        definition_version=1,
        contact_id=str(contact.id),
        input={"n": n},
        workflow_id=f"execution-{n}",
        trigger={"type": "webhook"},
        at=at,
    )
    execution.start(workflow_run_id=f"run-{n}", at=at)
    task = Task.assign(
        task_id=uuid.uuid4(),
        org_id=contact.org_id,
        title=f"Review Ada{n}",
        assigned_to="role:admin",
        execution_id=str(execution.id),
        step_id="step_2",
        contact_id=str(contact.id),
        at=at,
    )
    for step_id, step_type in (("step_1", "trigger"), ("step_2", "assign_task")):
        execution.start_step(step_id=step_id, step_type=step_type, step_name=step_id, at=at)
        execution.complete_step(step_id=step_id, output={"ok": True}, at=at)
    execution.start_step(step_id="step_3", step_type="wait_for_task", step_name="wait", at=at)
    execution.wait(step_id="step_3", waiting_for="task", until=None, detail={}, at=at)
    task.change_status(status="in_progress", at=at)
    task.change_status(status="done", metadata={"outcome": "approved"}, at=at)
    execution.complete_step(step_id="step_3", output={"outcome": "approved"}, at=at)
    execution.change_ui_status(step_id="step_4", ui_status="approved", at=at)
    execution.complete(output={}, at=at)
    return [contact, execution, task]


def fill_store(services: Services, events: int) -> int:
    """Append at least ``events`` events through the real write path, 570 per transaction."""
    at = datetime.now(UTC)
    units = -(-events // 19)
    for start in range(0, units, 30):
        aggregates = [a for n in range(start, min(start + 30, units)) for a in _unit(n, at)]
        services.contacts.save(*aggregates, metadata=_ctx(f"fill-{start}").stamped(at))
    return units * 19


@dataclass
class CryptoFigures:
    """Best rates over the rounds of one store (sealed or clear)."""

    commands: float = 0.0  # one contact created per command, events/s
    batched: float = 0.0  # fill_store: 570 events per transaction, events/s
    catchup: float = 0.0  # every projection from 0, events/s
    catchup_cpu_us: float = 0.0  # projector CPU per event at the best catch-up


def _one_contact_commands(services: Services, count: int) -> float:
    at = datetime.now(UTC)

    def run() -> None:
        for n in range(count):
            contact = Contact.create(
                contact_id=uuid.uuid4(),
                org_id="org_bench",
                first_name=f"Grace{n}",
                last_name="Hopper",
                email=f"grace{n}@example.com",
                phone="+15550100",
                fields={"source": "bench"},
                at=at,
            )
            services.contacts.save(contact, metadata=_ctx(f"one-{n}").stamped(at))

    return count / timed(run)


def bench_encryption(events: int, commands: int, rounds: int) -> dict[str, CryptoFigures]:
    """The same appends and catch-up into a sealing store and a clear one, in turns."""
    figures = {"sealed": CryptoFigures(), "clear": CryptoFigures()}
    with scratch_database() as sealed_url, scratch_database() as clear_url:
        stores = {
            "sealed": (sealed_url, build_services(sealed_url)),
            "clear": (clear_url, build_services(clear_url, sealing=False)),
        }
        try:
            for _ in range(rounds):
                for name, (url, services) in stores.items():
                    best = figures[name]
                    best.commands = max(best.commands, _one_contact_commands(services, commands))
                    appended = timed(lambda s=services: fill_store(s, events))  # type: ignore[misc]
                    best.batched = max(best.batched, -(-events // 19) * 19 / appended)
                    total = _max_position(url)
                    seconds, cpu, _ = catchup_once(url, "prefetch")
                    if total / seconds > best.catchup:
                        best.catchup = total / seconds
                        best.catchup_cpu_us = cpu * 1e6 / total
        finally:
            for _, services in stores.values():
                services.close()
    return figures


def _print_encryption(figures: dict[str, CryptoFigures]) -> str:
    sealed, clear = figures["sealed"], figures["clear"]
    for label, attr in (
        ("appends, one contact per command", "commands"),
        ("appends, 570 events per transaction", "batched"),
        ("catch-up, every projection from 0", "catchup"),
    ):
        on, off = getattr(sealed, attr), getattr(clear, attr)
        line(
            label,
            f"sealed {on:,.0f} events/s, clear {off:,.0f} events/s ({on / off:.2f}x)",
        )
    line(
        "catch-up projector CPU per event",
        f"sealed {sealed.catchup_cpu_us:.1f} us, clear {clear.catchup_cpu_us:.1f} us",
    )
    return (
        f"encryption: commands {sealed.commands / clear.commands:.2f}x, "
        f"batched {sealed.batched / clear.batched:.2f}x, "
        f"catch-up {sealed.catchup / clear.catchup:.2f}x of clear"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--writers", default="1,4,16")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--catchup", type=int, default=100_000)
    parser.add_argument("--catchup-runs", type=int, default=3)
    parser.add_argument(
        "--catchup-modes",
        default="prefetch,processes,spread",
        help="bench.catchup's modes, over this store's events (sealed, as the product writes)",
    )
    parser.add_argument("--crypto", type=int, default=20_000)
    parser.add_argument("--crypto-commands", type=int, default=1000)
    parser.add_argument("--crypto-rounds", type=int, default=2)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"bench/store.py on {machine()}", flush=True)
    with scratch_database() as url:
        services = build_services(url)
        try:
            levels: dict[int, dict[str, Figures]] = {}
            for writers in (int(w) for w in args.writers.split(",")):
                print(f"append, one event per command, {writers} writer process(es)", flush=True)
                figures = levels[writers] = bench_level(url, writers, args.single)
                for label, name in (
                    ("ours", "ours (service → aggregate → recorder)"),
                    ("plain", "plain psycopg INSERT, same event rows"),
                    ("plain+key", "plain INSERTs, the event and its contact's key row"),
                    ("plain+lock", "plain INSERT under the old EXCLUSIVE table lock"),
                ):
                    rate, cpu_ms, cores = figures[label]
                    line(
                        name,
                        f"{rate:,.0f} events/s, {cpu_ms:.2f} ms CPU/event (client),"
                        f" {cores:.1f} of {os.cpu_count()} cores busy",
                    )
                ours = figures["ours"][0]
                line(
                    "ratio ours/plain",
                    f"{ours / figures['plain'][0]:.2f}x the event rows,"
                    f" {ours / figures['plain+key'][0]:.2f}x with the key rows",
                )

            print("append, 100 events per transaction", flush=True)
            oursb, plainb = bench_batched(url, services, args.batches)
            line("ours (Application.save of 100 events)", f"{oursb:,.0f} events/s")
            line("plain psycopg executemany, same rows", f"{plainb:,.0f} events/s")
            line("ratio ours/plain", f"{oursb / plainb:.2f}x")

            print("hash chain, sealed after commit", flush=True)
            sealed, seal_time, seal_cpu = bench_chain(url)
            line(
                "sealer over every event so far",
                f"{sealed:,} events in {seal_time:.2f} s, {sealed / seal_time:,.0f} events/s,"
                f" {seal_cpu:.1f} ms CPU per 1,000",
            )

            print(f"projector catch-up over {args.catchup:,}+ events", flush=True)
            fill_store(services, args.catchup)
            runs = catchup_against_copy(
                url, args.catchup_runs, modes=args.catchup_modes.split(","), report=print_run
            )
            catchup = summary(runs)
        finally:
            services.close()
    encryption = ""
    if args.crypto > 0:
        print(
            f"encryption of personal data: sealed against clear, {args.crypto:,} events and "
            f"{args.crypto_commands:,} commands per store, best of {args.crypto_rounds}",
            flush=True,
        )
        encryption = "; " + _print_encryption(
            bench_encryption(args.crypto, args.crypto_commands, args.crypto_rounds)
        )
    scaling = ", ".join(
        f"{w} writer(s) {f['ours'][0]:,.0f}/s ({f['ours'][0] / f['plain'][0]:.2f}x plain,"
        f" {f['ours'][0] / f['plain+key'][0]:.2f}x with key rows)"
        for w, f in levels.items()
    )
    print(
        f"summary: append {scaling}; "
        f"{oursb:,.0f}/s batched ({oursb / plainb:.2f}x plain); "
        f"sealer {sealed / seal_time:,.0f} events/s; {catchup}{encryption}",
        flush=True,
    )


if __name__ == "__main__":
    main()
