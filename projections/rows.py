"""Load-modify-store of one row per aggregate: the engine behind every read model here.

Per batch: one SELECT loads the rows the batch touches, pure functions apply each event to an
in-memory dict, and the touched rows go back in at most two statements: a COPY of the rows the
SELECT did not find (new aggregates: most rows, when catching up or rebuilding) and one
INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE of the others. A few statements per batch
whatever its size — instead of one or more per event — is what lets catch-up run at tens of
thousands of events per second.

Handlers are plain functions ``(row | None, event) -> row`` that return a new dict and never
mutate their input, so they are unit-tested without a database and an execution that takes
fifty events in one batch is written once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from psycopg import Connection, sql
from psycopg.rows import dict_row

from projections.base import Projection
from projections.errors import UnexpectedEventError
from projections.events import RECORDED_COLUMNS, RECORDED_FROM, RecordedEvent, recorded_rows
from projections.tables import TableNames

Row = dict[str, Any]
Handler = Callable[[Row | None, RecordedEvent], Row]


CONTACT_ERASED = "Contact.Erased"
# The aggregates whose events carry an erased contact's personal data (index of migration 0013).
_CARRYING = (
    "SELECT DISTINCT originator_id FROM events"
    " WHERE data ? '_personal' AND (data->'_personal'->>'contact') = ANY(%s) AND position <= %s"
)
_HELD_BACK = (
    "SELECT position FROM projection_parked_events WHERE projection = %s AND position <= %s"
    " AND status IN ('parked', 'skipped')"
)
_AGGREGATES_EVENTS = (
    f"SELECT {RECORDED_COLUMNS} FROM {RECORDED_FROM}"
    " WHERE originator_id = ANY(%s) AND position <= %s AND event_type = ANY(%s)"
    " ORDER BY position"
)


@dataclass(frozen=True)
class Column:
    """A column of a row table and its Postgres type (used to cast the unnest arrays)."""

    name: str
    pg_type: str


class RowProjection(Projection):
    """A projection with one row per aggregate (keyed by ``id`` = the event's originator id).

    Every row has a ``version`` column holding the aggregate version of the last event applied.
    An event whose version is not newer is skipped: exactly-once is the runner's job, but a row
    that can never go backwards is cheap insurance.
    """

    def __init__(
        self,
        *,
        name: str,
        table: str,
        columns: Sequence[Column],
        handlers: Mapping[str, Handler],
        extra_tables: Iterable[str] = (),
        erasable: bool = False,
    ) -> None:
        """`erasable`: its rows hold contacts' personal data; it also reads `Contact.Erased`
        and rewrites, from their events, the rows of every aggregate whose events carry the
        erased contact's data (``rewrite_erased``)."""
        names = [column.name for column in columns]
        if names[0] != "id" or "version" not in names:
            raise ValueError(f"{name}: row tables start with an 'id' and have a 'version'")
        self.name = name
        self.erasable = erasable
        self.event_types = frozenset(handlers) | ({CONTACT_ERASED} if erasable else set())
        self.tables = TableNames([table, *extra_tables])
        self.table = table
        self.columns = tuple(columns)
        self.handlers = dict(handlers)

    # -- pure part ---------------------------------------------------------------------------

    def apply(self, row: Row | None, event: RecordedEvent) -> Row:
        """The row after `event`; the same object when the event is skipped."""
        if row is not None and event.originator_version <= row["version"]:
            return row
        handler = self.handlers.get(event.event_type)
        if handler is None:
            # The runner only reads handled types, so this is a wiring bug: say so, never skip.
            raise UnexpectedEventError(
                f"projection {self.name!r} has no handler for {event.event_type} at position "
                f"{event.position}"
            )
        return handler(row, event)

    def apply_all(
        self, rows: Mapping[UUID, Row], events: Sequence[RecordedEvent]
    ) -> tuple[dict[UUID, Row], list[RecordedEvent]]:
        """Apply `events` in order over `rows`; return the touched rows and the applied events."""
        touched: dict[UUID, Row] = {}
        applied: list[RecordedEvent] = []
        for event in events:
            key = event.originator_id
            # One lookup where a row was touched (UUID hashing is Python code, paid per lookup).
            current = touched.get(key)
            if current is None:
                current = rows.get(key)
            new = self.apply(current, event)
            if new is not current:
                touched[key] = new
                applied.append(event)
        return touched, applied

    # -- database part -----------------------------------------------------------------------

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        erased = [e for e in events if e.event_type == CONTACT_ERASED] if self.erasable else []
        if erased and CONTACT_ERASED not in self.handlers:
            rows_events = [e for e in events if e.event_type != CONTACT_ERASED]
        else:
            rows_events = list(events)
        self._apply_rows(conn, rows_events)
        if erased:
            self.rewrite_erased(conn, [e.originator_id for e in erased], upto=events[-1].position)

    def rewrite_erased(self, conn: Connection[Any], contacts: Sequence[UUID], *, upto: int) -> None:
        """Rewrite, from their events up to `upto`, the rows of the aggregates whose events
        carry the personal data of erased `contacts`.

        The events are read now, after the contacts' keys were destroyed (a key is destroyed
        before its `Contact.Erased` is appended), so their personal attributes read as erased,
        and each row becomes exactly what a rebuild gives: `projections verify` stays equal.
        Positions this projection parked or skipped stay out, as in a parked event's retry.
        """
        ids = [
            row[0] for row in conn.execute(_CARRYING, ([str(c) for c in contacts], upto)).fetchall()
        ]
        if not ids:
            return
        held_back = conn.execute(_HELD_BACK, (self.name, upto)).fetchall()
        skip = {int(row[0]) for row in held_back}
        with conn.cursor(row_factory=recorded_rows) as cur:
            cur.execute(_AGGREGATES_EVENTS, (ids, upto, list(self.handlers)))
            events = [e for e in cur.fetchall() if e.position not in skip]
        if not events:
            return
        existing = self.load(conn, ids)
        rows, _ = self.apply_all({}, events)
        self.store(conn, rows.values(), existing=existing)

    def _apply_rows(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        if not events:
            return
        # An aggregate whose first event here is its first event ever (version 1) has no row:
        # no event of it is behind the projection's position (an aggregate's versions get
        # rising positions, each appended after the one before committed). Only the others are
        # looked up, which in a catch-up or a rebuild is most of a batch's index probes saved.
        first: dict[UUID, int] = {}
        for event in events:
            first.setdefault(event.originator_id, event.originator_version)
        existing = self.load(conn, [key for key, version in first.items() if version > 1])
        touched, applied = self.apply_all(existing, events)
        self.store(conn, touched.values(), existing=existing)
        self.after_store(conn, touched, applied)

    def after_store(
        self, conn: Connection[Any], rows: Mapping[UUID, Row], applied: Sequence[RecordedEvent]
    ) -> None:
        """Hook for projections that own more tables than their row table (definitions).

        `rows` are the rows just written, `applied` the events that changed them, in order.
        """

    def load(self, conn: Connection[Any], ids: Sequence[UUID]) -> dict[UUID, Row]:
        if not ids:
            return {}
        query = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            self.tables.ident(self.table),
        )
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, (ids,))
            return {row["id"]: row for row in cur}

    def store(
        self,
        conn: Connection[Any],
        rows: Iterable[Row],
        *,
        existing: Container[UUID] | None = None,
    ) -> None:
        """Write `rows` back: upserted, or, for those whose id is not in `existing` (the ids the
        caller's transaction found in the table), inserted by COPY.

        COPY is only right for rows that cannot be in the table, which holds when `existing`
        comes from `load` in the same transaction that holds the projection's tracking row (the
        only writer of its tables). Measured on the catch-up bench: a COPY row costs about half
        the client CPU and two thirds of the server CPU of an upserted one. Without `existing`
        every row is upserted.
        """
        rows = list(rows)
        if existing is None:
            fresh: list[Row] = []
            known = rows
        else:
            fresh = [row for row in rows if row["id"] not in existing]
            known = [row for row in rows if row["id"] in existing] if len(fresh) < len(rows) else []
        if fresh:
            self._copy(conn, fresh)
        if not known:
            return
        arrays = [
            [dump_json(row[c.name]) for row in known]
            if c.pg_type == "jsonb"
            else [row[c.name] for row in known]
            for c in self.columns
        ]
        conn.execute(_upsert_text(self.tables.ident(self.table).as_string(), self.columns), arrays)

    def _copy(self, conn: Connection[Any], rows: Sequence[Row]) -> None:
        """COPY `rows` in (text format: psycopg formats the plain values in C, orjson the jsonb
        ones; binary COPY measured no faster here)."""
        names = [c.name for c in self.columns]
        plain = [c.pg_type != "jsonb" for c in self.columns]
        statement = _copy_text(self.tables.ident(self.table).as_string(), tuple(names))
        with conn.cursor() as cur, cur.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(
                    [
                        row[name] if is_plain else dump_json(row[name])
                        for name, is_plain in zip(names, plain, strict=True)
                    ]
                )


# The statements of a table, composed once: composing identifiers was 5 to 7% of the executions
# read model's catch-up (bench.catchup's profile), paid on every batch for the same text.
@lru_cache(maxsize=64)
def _copy_text(table: str, names: tuple[str, ...]) -> str:
    return f"COPY {table} ({', '.join(sql.Identifier(n).as_string() for n in names)}) FROM STDIN"


@lru_cache(maxsize=64)
def _upsert_text(table: str, columns: tuple[Column, ...]) -> str:
    """`_upsert_sql` for `table`, an identifier already quoted (``"executions__rebuild"``)."""
    return _upsert_sql(sql.SQL(table), columns).as_string()


def _upsert_sql(table: sql.Composable, columns: Sequence[Column]) -> sql.Composed:
    """INSERT … SELECT FROM unnest(arrays) ON CONFLICT (id) DO UPDATE SET every column.

    Measured on the 100,000-event catch-up: arrays sent in binary (``%b``) cost about half the
    client time of text arrays (psycopg quotes every text element with a regex), and a binary
    COPY into a temp table followed by the same upsert was no faster, so the simpler single
    statement stays. jsonb travels as text[] and is cast per element by the server.
    """
    names = [sql.Identifier(c.name) for c in columns]
    arrays = [
        sql.SQL("%b::{}[]").format(sql.SQL("text" if c.pg_type == "jsonb" else c.pg_type))
        for c in columns
    ]
    selects = [
        sql.SQL("u.{}::jsonb" if c.pg_type == "jsonb" else "u.{}").format(name)
        for c, name in zip(columns, names, strict=True)
    ]
    updates = [sql.SQL("{0} = EXCLUDED.{0}").format(name) for name in names[1:]]
    return sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {selects} FROM unnest({arrays}) AS u({names})"
        " ON CONFLICT (id) DO UPDATE SET {updates}"
    ).format(
        table=table,
        names=sql.SQL(", ").join(names),
        selects=sql.SQL(", ").join(selects),
        arrays=sql.SQL(", ").join(arrays),
        updates=sql.SQL(", ").join(updates),
    )


def dump_json(value: Any) -> str | None:
    """jsonb parameter text; None is SQL NULL (not JSON null).

    orjson: several times faster than json.dumps, which showed in the catch-up profile, and it
    writes the same compact UTF-8 text for JSON values. What it refuses (integers beyond 64
    bits, which JSON from users may hold) goes through json.dumps as before.
    """
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- helpers shared by the handlers ------------------------------------------------------------


def require(row: Row | None, event: RecordedEvent) -> Row:
    """The existing row, or an error naming the event that arrived before its aggregate did."""
    if row is None:
        raise UnexpectedEventError(
            f"{event.event_type} at position {event.position} is for {event.aggregate_type} "
            f"{event.originator_id}, which has no row: its creation event was never projected"
        )
    return row


def touched(row: Row, event: RecordedEvent) -> Row:
    """A copy of `row` stamped with the event's time and aggregate version."""
    new = dict(row)
    new["updated_at"] = event.occurred_at
    new["version"] = event.originator_version
    return new


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 string from an event as an aware datetime (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise UnexpectedEventError(f"{value!r} is not an ISO-8601 date-time") from None
    else:
        raise UnexpectedEventError(f"{value!r} is not an ISO-8601 date-time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def id_text(value: object) -> str | None:
    """An id carried by an event, as text; UUIDs in their canonical form so filters match."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if _CANONICAL_UUID.fullmatch(text) is not None:
        return text  # already canonical: parsing it again would give the same text
    try:
        return str(UUID(text))
    except ValueError:
        return text


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def error_text(value: object) -> str | None:
    """Errors are shown to people: keep strings, render anything structured as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
