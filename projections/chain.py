"""The sealer: the follower that writes the hash chain over the events, after they commit.

Appends take no table lock (migration 0009), so no append can know which row will come before
its own in position order; chaining inside the append would put every writer back in one queue.
Instead this follower links the events in position order up to the safe head
(projections/horizon.py), where the order can no longer change:

    hash = sha256(prev_hash || event_digest_input(event))    (32 zero bytes before the first)

and writes (position, prev_hash, hash) rows to ``event_chain``, which refuses UPDATE, DELETE and
TRUNCATE like ``events``. The digest is computed by the database (``event_digest_input``, the
function verification uses too), the links here. One sealer works at a time: each batch takes a
transaction-scoped advisory lock, and a second sealer that slipped past it would still collide
on ``event_chain``'s primary key and roll back. Events are tamper-evident once sealed; how far
the seal lags is in `seal_status` (and in ``GET /audit/verify``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from time import monotonic
from typing import Any

import psycopg
import structlog
from psycopg import Connection
from psycopg.rows import tuple_row

from projections.events import EVENTS_CHANNEL
from projections.horizon import Horizon, safe_head

log = structlog.get_logger(__name__)

# The sealer's name where followers are named (`bytedash projector --only chain`).
SEALER = "chain"
GENESIS = bytes(32)
# ASCII "bytechai": the key 0003's chain trigger used; now the sealer's.
SEALER_LOCK_KEY = 7095830666707231081
DEFAULT_BATCH = 5000
# Seconds between two passes that each sealed less than a batch: a pass costs its statements
# whatever it seals (under the onboarding benchmark's load, passes of one or two events took a
# fifth of the projector process's CPU), and a chain this far behind is still sealed within a
# fraction of a second (`bytedash_chain_seal_lag_seconds`).
MIN_INTERVAL = 0.25

_LAST_SEALED = "SELECT position, hash FROM event_chain ORDER BY position DESC LIMIT 1"
_TO_SEAL = (
    "SELECT position, event_digest_input(e) FROM events e"
    " WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
)
_OLDEST_UNSEALED_AGE = (
    "SELECT extract(epoch FROM clock_timestamp() - recorded_at)::float8"
    " FROM events WHERE position > %s ORDER BY position LIMIT 1"
)
_STATUS = (
    "SELECT (SELECT coalesce(max(position), 0) FROM event_chain),"
    " (SELECT coalesce(max(position), 0) FROM events)"
)


@dataclass(frozen=True)
class SealStatus:
    """How far the chain reaches: `sealed_head` of `head`, and the oldest unsealed event's age."""

    sealed_head: int
    head: int
    lag_seconds: float | None

    @property
    def unsealed(self) -> int:
        return max(self.head - self.sealed_head, 0)


def seal_batch(conn: Connection[Any], upto: int, *, batch: int = DEFAULT_BATCH) -> int:
    """Seal the next events up to position `upto` (a safe head), at most `batch`; how many.

    0 when another sealer is at work right now, or when nothing up to `upto` is unsealed.
    """
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        locked = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (SEALER_LOCK_KEY,))
        row = locked.fetchone()
        if row is None or not row[0]:
            return 0
        last = cur.execute(_LAST_SEALED).fetchone()
        after, previous = (0, GENESIS) if last is None else (int(last[0]), bytes(last[1]))
        if after >= upto:
            return 0
        rows = cur.execute(_TO_SEAL, (after, upto, batch), prepare=True).fetchall()
        if not rows:
            return 0
        links = []
        for position, digest_input in rows:
            digest = hashlib.sha256(previous + digest_input).digest()
            links.append((position, previous, digest))
            previous = digest
        with cur.copy("COPY event_chain (position, prev_hash, hash) FROM STDIN") as copy:
            for link in links:
                copy.write_row(link)
    return len(rows)


def seal(conn: Connection[Any], upto: int | None = None, *, batch: int = DEFAULT_BATCH) -> int:
    """Seal everything up to `upto` (default: the safe head now); how many were sealed.

    For one-off callers (tests, ``bytedash events verify --seal``); the projector process runs
    `ChainSealer` instead.
    """
    if upto is None:
        found = safe_head(conn)
        if found is None:
            return 0
        upto = found
    total = 0
    while True:
        sealed = seal_batch(conn, upto, batch=batch)
        total += sealed
        if sealed < batch:
            return total


def seal_status(conn: Connection[Any]) -> SealStatus:
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_STATUS).fetchone()
        sealed_head, head = (0, 0) if row is None else (int(row[0]), int(row[1]))
        lag = None
        if head > sealed_head:
            oldest = cur.execute(_OLDEST_UNSEALED_AGE, (sealed_head,)).fetchone()
            lag = None if oldest is None else max(float(oldest[0]), 0.0)
    return SealStatus(sealed_head, head, lag)


class ChainSealer:
    """Keeps the chain sealed up to the safe head; runs beside the projections (own thread)."""

    def __init__(
        self,
        database_url: str,
        *,
        batch: int = DEFAULT_BATCH,
        poll_interval: float = 1.0,
        unsettled_poll: float = 0.005,
        min_interval: float = MIN_INTERVAL,
        application_name: str = "bytedash-sealer",
    ) -> None:
        self._url = database_url
        self._batch = batch
        self._poll_interval = poll_interval
        self._unsettled_poll = unsettled_poll
        self._min_interval = min_interval
        self._application_name = application_name

    def run_forever(self, stop: threading.Event) -> None:
        """Seal until `stop` is set; survives lost connections (reconnects with a backoff)."""
        log.info("sealer_started")
        failures = 0
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, application_name=self._application_name
                ) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    failures = 0
                    self._follow(conn, stop)
            except psycopg.Error as exc:
                failures += 1
                delay = min(0.5 * 2 ** (failures - 1), 30.0)
                log.warning("sealer_connection_failed", error=str(exc), retry_in=delay)
                stop.wait(delay)
        log.info("sealer_stopped")

    def _follow(self, conn: Connection[Any], stop: threading.Event) -> None:
        horizon = Horizon()
        while not stop.is_set():
            started = monotonic()
            sealed = seal_batch(conn, horizon.observe(conn), batch=self._batch)
            if sealed == self._batch:
                continue
            # Not more often than min_interval: under a steady trickle of appends each pass
            # would seal a couple of events for the price of a whole pass.
            if sealed and stop.wait(max(started + self._min_interval - monotonic(), 0.0)):
                return
            timeout = self._poll_interval if horizon.settled else self._unsettled_poll
            deadline = monotonic() + timeout
            for _ in conn.notifies(timeout=max(deadline - monotonic(), 0.0), stop_after=1):
                break
            for _ in conn.notifies(timeout=0):  # one wake-up serves every NOTIFY so far
                pass
