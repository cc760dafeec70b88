"""``bytedash events tail|export|verify``: auditor tooling on the event store, for operators.

Each reads the store through ``projections.audit`` (org-scoped, like the API: an export is one
org's record), writes plain NDJSON or CSV that other tools take as they are, and never loads
more than one chunk of events into memory.
"""

from __future__ import annotations

import contextlib
import csv
import json
import select
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

import psycopg
from psycopg.rows import dict_row

from projections.audit import list_events, stream_events, verify_chain
from projections.chain import seal
from projections.horizon import Horizon

CSV_COLUMNS = (
    "position",
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "event_type",
    "occurred_at",
    "recorded_at",
    "org_id",
    "actor",
    "source",
    "workflow_id",
    "workflow_run_id",
    "workflow_type",
    "activity_id",
    "correlation_id",
    "causation_id",
    "command_id",
    "data",
)


def filters_from(args: Any) -> dict[str, Any]:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return {
        "aggregate_type": args.aggregate_type,
        "aggregate_id": args.aggregate_id,
        "event_type": args.event_type,
        "workflow_id": args.workflow_id,
        "run_id": args.run_id,
        "correlation_id": args.correlation_id,
        "actor": args.actor,
        "since": when(args.since),
        "until": when(args.until),
    }


def _csv_row(item: dict[str, Any]) -> list[Any]:
    flat = {**item, **item.get("metadata", {})}
    return [
        json.dumps(flat.get("data"), ensure_ascii=False) if c == "data" else flat.get(c)
        for c in CSV_COLUMNS
    ]


def write_events(items: Iterable[dict[str, Any]], out: TextIO, fmt: str) -> int:
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    for item in items:
        if writer is not None:
            writer.writerow(_csv_row(item))
        else:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        count += 1
    out.flush()
    return count


def export(database_url: str, org: str, filters: dict[str, Any], out: TextIO, fmt: str) -> int:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        events = stream_events(conn, org, **filters)
        try:
            return write_events(events, out, fmt)
        finally:
            events.close()


def tail(
    database_url: str,
    org: str,
    filters: dict[str, Any],
    out: TextIO,
    *,
    after: int | None,
    stop: threading.Event,
) -> None:
    """Print the org's matching events as they are recorded, until `stop` is set.

    Woken by the writers' ``NOTIFY events``; polls every second as well.
    """
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        if after is None:
            row = conn.execute("SELECT coalesce(max(position), 0) AS head FROM events").fetchone()
            after = int(row["head"]) if row else 0
        conn.execute("LISTEN events")
        horizon = Horizon()
        while not stop.is_set():
            # Only up to the safe head: a later position may commit before an earlier one, and
            # printing past it could pass over the earlier one for good (projections/horizon.py).
            safe = horizon.observe(conn)
            while after < safe:
                page = list_events(conn, org, after=after, limit=200, **filters)
                items = [item for item in page.items if int(item["position"]) <= safe]
                write_events(items, out, "ndjson")
                after = int(items[-1]["position"]) if items else after
                if page.next_cursor is None or len(items) < len(page.items):
                    break
            select.select([conn.fileno()], [], [], 1.0 if horizon.settled else 0.005)
            for _ in conn.notifies(timeout=0):
                pass


def verify(database_url: str, out: TextIO, anchor: str | None) -> bool:
    pair: tuple[int, str] | None = None
    if anchor:
        position, _, digest = anchor.partition(":")
        if not position.isdigit() or not digest:
            raise ValueError("--anchor takes HEAD:HASH from an earlier verification")
        pair = (int(position), digest)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Cover everything recorded so far: the projector's sealer normally has, but it may not
        # be running. A role that may only read (an auditor's) verifies what is sealed.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            seal(conn)
        report = verify_chain(conn, anchor=pair)
    if report.ok:
        out.write(
            f"intact: {report.checked} events checked up to position {report.head}"
            + (f"; anchor for next time: {report.head}:{report.head_hash}" if report.head else "")
            + (f"; {report.unsealed} newer events not yet sealed" if report.unsealed else "")
            + "\n"
        )
    else:
        out.write(
            f"BROKEN at position {report.first_broken_position}: {report.reason} "
            f"({report.checked} events intact before it, head {report.head})\n"
        )
    return report.ok
