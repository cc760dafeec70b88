"""Reading a projection's next batch of events while the current one is applied.

A batch is three stages one after another: Postgres sends the events and the projector decodes
them (psycopg, orjson), the projector applies them (Python), Postgres writes the rows. Done in
turn, each stage leaves the other core idle. A `Prefetcher` reads the *next* batch's events on a
connection of its own, in a thread, while the caller's transaction applies and writes the
current one: the decoding overlaps with Postgres writing (psycopg releases the GIL while it
waits), which is what lets one projector process use both cores of a small machine.

Why exactly once still holds: a batch reads only up to a position below which the store no
longer changes (its window's end, never past the safe head: projections/horizon.py), so the
first N events of given types after a position, up to such a bound, are the same rows whatever
connection reads them, and whenever. The batch still locks its tracking row, leaves out parked
events, and commits its rows with its position in one transaction; only the reading of rows that
cannot change moved to another connection. A prefetch that does not match the next request, or
that failed, is dropped and the batch reads for itself, as without a prefetcher.

What is prefetched: after a *full* batch (as many events as the limit) ending at position P, the
first `limit` events of the same types in (P, upto] of the request just served. The next
request starts at P with a bound at least as high, so those events are its answer when there
are `limit` of them; when fewer, the window had no more, and the request tops them up with a
read of its own from the old bound to its new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import structlog
from psycopg import Connection

from projections.events import RecordedEvent, read_events, use_fast_json

log = structlog.get_logger(__name__)


class EventReader(Protocol):
    """`projections.events.read_events`, or a `Prefetcher`'s `read`: same arguments, same rows."""

    def __call__(
        self,
        conn: Connection[Any],
        *,
        after: int,
        upto: int,
        event_types: Collection[str],
        limit: int,
        personal: bool = True,
    ) -> list[RecordedEvent]: ...


@dataclass(frozen=True)
class _Ahead:
    after: int
    upto: int
    limit: int
    events: Future[list[RecordedEvent]]


class Prefetcher:
    """Reads ahead for any number of projections (one pending read per set of event types and
    way of reading personal data) on one connection and one thread of its own. Not for
    concurrent callers: give each thread of batches its own. `close` waits for the pending read
    and closes the connection."""

    def __init__(self, database_url: str, *, application_name: str = "bytedash-prefetch") -> None:
        self._url = database_url
        self._application_name = application_name
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Connection[Any] | None = None  # used only on the executor's thread
        self._ahead: dict[tuple[frozenset[str], bool], _Ahead] = {}
        self.hits = 0
        """Requests answered (wholly or in part) by a read done ahead."""
        self.misses = 0

    def read(
        self,
        conn: Connection[Any],
        *,
        after: int,
        upto: int,
        event_types: Collection[str],
        limit: int,
        personal: bool = True,
    ) -> list[RecordedEvent]:
        """The events `read_events` would return for these arguments."""
        what = (frozenset(event_types), personal)
        events = self._take(conn, what, after, upto, limit)
        if events is None:
            self.misses += 1
            events = read_events(
                conn, after=after, upto=upto, event_types=what[0], limit=limit, personal=personal
            )
        else:
            self.hits += 1
        if len(events) == limit:
            self._start(what, events[-1].position, upto, limit)
        return events

    def _take(
        self,
        conn: Connection[Any],
        what: tuple[frozenset[str], bool],
        after: int,
        upto: int,
        limit: int,
    ) -> list[RecordedEvent] | None:
        ahead = self._ahead.pop(what, None)
        if ahead is None:
            return None
        if ahead.after != after or ahead.limit != limit or ahead.upto > upto:
            return None  # another request than foreseen (a reset, a smaller batch, a retry)
        try:
            events = ahead.events.result()
        except Exception as exc:  # the batch reads for itself; the next prefetch reconnects
            log.warning("prefetch_failed", error=f"{type(exc).__name__}: {exc}")
            return None
        if len(events) < limit and ahead.upto < upto:
            events = events + read_events(
                conn,
                after=ahead.upto,
                upto=upto,
                event_types=what[0],
                limit=limit - len(events),
                personal=what[1],
            )
        return events

    def _start(self, what: tuple[frozenset[str], bool], after: int, upto: int, limit: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="projection-prefetch")
        future = self._executor.submit(self._read_ahead, what, after, upto, limit)
        self._ahead[what] = _Ahead(after, upto, limit, future)

    def _read_ahead(
        self, what: tuple[frozenset[str], bool], after: int, upto: int, limit: int
    ) -> list[RecordedEvent]:
        conn = self._conn
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self._url, autocommit=True, application_name=self._application_name
            )
            use_fast_json(conn)
            self._conn = conn
        try:
            return read_events(
                conn, after=after, upto=upto, event_types=what[0], limit=limit, personal=what[1]
            )
        except BaseException:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def close(self) -> None:
        """Forget pending reads, close the connection and stop the thread (idempotent)."""
        self._ahead.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self._drop_connection)
            executor.shutdown(wait=True)
