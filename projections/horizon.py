"""How far a follower may read the store: the *safe head*, below which nothing can still commit.

Appends take no table lock (migration 0009), so a transaction that drew a lower position can
commit after one that drew a higher position. A follower that read "position > N" up to the
highest visible position could move past a position that becomes visible a moment later and
never see it. It reads only up to the safe head instead.

The rule (0009 and docs/event-store.md have the argument): ``events_watermark()`` answers the
last position drawn, L, and then the transactions appending right now, H. Once every member of
H has ended, every position <= L that will ever exist is visible. `Horizon` keeps the
observations it has not yet seen cleared, so a follower never waits: each call observes once,
and answers the L of the newest observation whose appenders have all ended (an observation made
while nobody was appending is clear at once). Observations clear in the order they were made: an
appender still running now was running at every earlier observation made after it began.

Written by hand: Marten waits out gaps with a timeout (a late commit after the timeout is
skipped) and Emmett orders followers by transaction id (our followers, tracking rows and
read-your-writes waits are all by position); neither fits a position-ordered store without
giving up a guarantee.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row

_WATERMARK = "SELECT last_position, appenders FROM events_watermark()"
_SAFE_HEAD = "SELECT events_safe_head(make_interval(secs => %s))"
# Observations kept waiting at most; past it new ones are dropped (the follower observes again
# each round, so a dropped one only delays progress until the kept ones clear).
_MAX_PENDING = 256


class AppendInFlightError(RuntimeError):
    """A reader that must reach the safe head found an append in flight for too long."""


class Horizon:
    """The safe head as one follower sees it over time; not shared between threads."""

    def __init__(self) -> None:
        self._safe = 0
        self._pending: deque[tuple[int, frozenset[str]]] = deque()

    @property
    def safe(self) -> int:
        """The newest safe head found so far (0 before the first observation)."""
        return self._safe

    @property
    def settled(self) -> bool:
        """Whether the last observation found nothing in flight below the last position drawn."""
        return not self._pending

    def observe(self, conn: Connection[Any]) -> int:
        """Observe the store once and answer the safe head; never waits for a writer."""
        with conn.cursor(row_factory=tuple_row) as cur:
            row = cur.execute(_WATERMARK, prepare=True).fetchone()
        last, appenders = (0, []) if row is None else (int(row[0]), row[1] or [])
        running = frozenset(appenders)
        while self._pending and not (self._pending[0][1] & running):
            self._safe = max(self._safe, self._pending.popleft()[0])
        if not running:
            self._safe = max(self._safe, last)
            self._pending.clear()
        elif last > self._safe:
            if self._pending and self._pending[-1][0] == last:
                # Nothing drawn since: this observation clears no later than that one did.
                self._pending[-1] = (last, running)
            elif len(self._pending) < _MAX_PENDING:
                self._pending.append((last, running))
        return self._safe


def safe_head(conn: Connection[Any], *, max_wait: float = 5.0) -> int | None:
    """The safe head for a one-off reader, waiting up to `max_wait` s for appends in flight.

    None when an append was still in flight at the end of the wait (a transaction held open
    around an insert): read nothing new then, rather than risk skipping it.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_SAFE_HEAD, (max_wait,), prepare=True).fetchone()
    return None if row is None or row[0] is None else int(row[0])
