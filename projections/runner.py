"""The projector: follows the event store and keeps projections up to date, exactly once.

One `Projector` owns one connection. On it, it holds a session-level advisory lock per
projection it drives (so one instance works on a projection at a time; others wait and take
over when its connection drops), LISTENs on ``events`` to wake as soon as a writer commits, and
runs each batch in its own transaction (`projections.batch`). A failed batch is rolled back,
recorded in ``projection_tracking`` from a separate connection (the failed transaction cannot
record anything), logged, and retried. While following the store (`run_forever`), the batch is
narrowed down to the one event at fault, which is retried with exponential backoff and then
parked (`projections.batch.Stepper`): recorded, logged, shown in the status, and passed, so one
bad event does not hold every later one back. Nothing is skipped without a trace.

While an admin operation holds a projection's tracking row (a rebuild's swap, a reset, a retry
of parked events), `run_forever` steps aside for that projection and comes back to it at the
next NOTIFY or poll; the row lock, taken in every batch, is what keeps this exactly once.

Not thread-safe: give each thread its own `Projector`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from time import monotonic
from typing import Any

import psycopg
import structlog
from psycopg import Connection, sql

from projections import locks, tracking
from projections.base import Projection
from projections.batch import (
    BatchResult,
    BeforeCommit,
    PoisonPolicy,
    Step,
    Stepper,
    project_next_batch,
)
from projections.errors import LockNotAcquiredError
from projections.events import EVENTS_CHANNEL, read_events, types_after, use_fast_json
from projections.horizon import AppendInFlightError, Horizon, safe_head
from projections.prefetch import EventReader, Prefetcher
from projections.statistics import ensure_event_statistics

log = structlog.get_logger(__name__)

# Longest single wait on the socket, so `stop` is noticed quickly even with a long poll interval.
_WAIT_SLICE = 0.25
# Most events a round looks at to decide which projections have work; beyond it every
# projection runs its batch (catching up, where skipping would save nothing).
_PLAN_LIMIT = 500
# Seconds between looks at the store while appends seen in flight have not yet ended.
_UNSETTLED_POLL = 0.002
# A projection with nothing of its own to apply still commits its position this often, so its
# tracking row (and the lag that status shows) never falls far behind the head.
_ADVANCE_IDLE_EVERY = 1.0


class Projector:
    """Drives `projections` from the event store of `database_url`.

    Args:
        batch_size: most events applied per transaction.
        scan_size: positions examined per transaction when looking for relevant events
            (default 10 * batch_size); bounds the cost of skipping other aggregates' events.
        poll_interval: longest sleep between checks when no NOTIFY arrives (a safety net).
        lock_retry_interval: how often a waiting instance retries a projection's lock.
        retry_backoff: (first, longest) delay in seconds before retrying a failed batch.
        park_after: tries of one failing event before `run_forever` parks it and moves on;
            None retries it forever instead (`run_until_caught_up` never parks: it raises).
        before_commit: test hook called inside each batch's transaction just before commit.
        prefetch: read each projection's next batch of events on a second connection while
            the current one is applied (projections/prefetch.py); False reads every batch in
            its own transaction only (one connection, as benches compare).
    """

    def __init__(
        self,
        database_url: str,
        projections: Sequence[Projection],
        *,
        batch_size: int = 2000,
        scan_size: int | None = None,
        poll_interval: float = 1.0,
        lock_retry_interval: float = 1.0,
        retry_backoff: tuple[float, float] = (0.5, 30.0),
        park_after: int | None = 5,
        before_commit: BeforeCommit | None = None,
        application_name: str = "bytedash-projector",
        prefetch: bool = True,
    ) -> None:
        names = [projection.name for projection in projections]
        if not names:
            raise ValueError("a projector needs at least one projection")
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique, got {names}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._url = database_url
        self._projections = tuple(projections)
        self._batch_size = batch_size
        self._scan_size = scan_size if scan_size is not None else 10 * batch_size
        if self._scan_size < batch_size:
            raise ValueError("scan_size must be at least batch_size")
        self._poll_interval = poll_interval
        self._lock_retry_interval = lock_retry_interval
        self._backoff_first, self._backoff_longest = retry_backoff
        self._before_commit = before_commit
        self._policy = PoisonPolicy(attempts=park_after, backoff=retry_backoff)
        # Reads the next batch's events while this one is applied (projections/prefetch.py).
        self._prefetch = Prefetcher(database_url, application_name=application_name + "-prefetch")
        read = self._prefetch.read if prefetch else read_events
        self._read: EventReader = read
        self._steppers = {
            projection.name: Stepper(
                projection,
                batch_size=batch_size,
                scan_size=self._scan_size,
                policy=self._policy,
                skip_locked=True,
                before_commit=before_commit,
                read=read,
            )
            for projection in self._projections
        }
        self._application_name = application_name
        self._conn: Connection[Any] | None = None
        self._listening = False
        self._held: set[str] = set()
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        # Each projection's position after its last batch here, and when that batch ran.
        self._known: dict[str, tuple[int, float]] = {}
        self._horizon = Horizon()

    @property
    def projections(self) -> tuple[Projection, ...]:
        return self._projections

    @property
    def held(self) -> frozenset[str]:
        """Names of the projections whose lock this instance holds right now."""
        return frozenset(self._held)

    # -- public API ------------------------------------------------------------------------------

    def run_until_caught_up(self, *, lock_timeout: float | None = None) -> int:
        """Apply every event up to the safe head found at the start, one projection after
        another; return how many.

        Waits for each projection's lock (another instance may hold it), up to `lock_timeout`
        seconds when given, and releases the locks it took before returning. A failing batch is
        recorded and its exception raised: callers of this method want to know, not to retry.
        AppendInFlightError when an append stays in flight (a transaction held open around an
        insert) for longer than the safe head waits.
        """
        total = 0
        conn = self._connect()
        head = safe_head(conn)  # once: every batch reads up to it, none looks for it again
        if head is None:
            raise AppendInFlightError(
                "an append into events has been in flight for seconds (a transaction held open "
                "around an insert?); nothing after it can be read safely until it ends"
            )
        for projection in self._projections:
            acquired = self._wait_for_lock(conn, projection, lock_timeout)
            try:
                while True:
                    result = self._run_batch(conn, projection, head)
                    total += result.applied
                    if not result.advanced:
                        break
            finally:
                if acquired:
                    self._release(projection)
        return total

    def run_forever(self, stop: threading.Event) -> None:
        """Keep every projection up to date until `stop` is set; survives database restarts."""
        log.info("projector_started", projections=[p.name for p in self._projections])
        outage = 0
        try:
            while not stop.is_set():
                try:
                    self._round(stop)
                    outage = 0
                except psycopg.Error as exc:
                    # Lost or refused connection: every lock went with it. Reconnect after a
                    # pause; batches themselves never get here (they are handled per projection).
                    outage += 1
                    delay = self._backoff(outage)
                    log.warning("projector_connection_failed", error=str(exc), retry_in=delay)
                    self._drop_connection()
                    stop.wait(delay)
        finally:
            self.close()
            log.info("projector_stopped")

    def close(self) -> None:
        """Release every lock (by closing the connection) so another instance can take over."""
        self._drop_connection()
        self._prefetch.close()

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one round of run_forever ------------------------------------------------------------------

    def _round(self, stop: threading.Event) -> None:
        conn = self._connect(listen=True)
        self._take_free_locks(conn)
        # One observation per round: every batch of the round reads up to this safe head, and
        # none needs to look for it itself (projections/horizon.py).
        known_head = self._horizon.observe(conn)
        new_events = self._plan(conn, known_head)
        busy = False
        for projection in self._projections:
            if stop.is_set():
                return
            name = projection.name
            if name not in self._held or self._retry_at.get(name, 0.0) > monotonic():
                continue
            if new_events is not None and self._nothing_to_do(projection, new_events):
                continue
            try:
                step = self._step(conn, projection, known_head)
            except Exception:
                self._known.pop(name, None)
                self._retry_at[name] = monotonic() + self._backoff(self._failures[name])
                if self._conn is None:
                    return  # the connection broke with the batch; reconnect next round
                continue
            self._remember(projection, step)
            if step.error is not None and step.retry_in > 0:
                self._retry_at[name] = monotonic() + step.retry_in
            busy = busy or step.advanced or (step.error is not None and step.retry_in == 0)
        if not busy:
            timeout = self._idle_timeout()
            if not self._horizon.settled:
                # Appends were in flight at the observation: their end need not be followed by a
                # NOTIFY (a process rings once for a burst of appends), so look again soon.
                timeout = min(timeout, _UNSETTLED_POLL)
            self._wait_for_notify(conn, timeout, stop)

    def _plan(self, conn: Connection[Any], safe: int) -> list[tuple[int, str]] | None:
        """The types of the events after the lowest position known here, or None (run all).

        Following the store, most commits concern a few projections only (a task's events mean
        nothing to the definitions); one query per round saves the others a transaction each,
        and saves every projection the empty batch of the round after a busy one. It reads up
        to the round's safe head, as each batch will, so it sees what each batch would.
        """
        if any(p.name in self._held and p.name not in self._known for p in self._projections):
            return None
        held = [self._known[name][0] for name in self._held if name in self._known]
        if not held:
            return None
        new_events = types_after(conn, min(held), _PLAN_LIMIT, safe)
        return None if len(new_events) >= _PLAN_LIMIT else new_events

    def _nothing_to_do(self, projection: Projection, new_events: list[tuple[int, str]]) -> bool:
        """Whether `projection` may sit this round out: none of its types after its position,
        and its last batch recent. Its next batch reads from its own tracking row as always, so
        sitting out never skips an event; the time bound also brings it back to a row an admin
        moved (a reset) within a second, as the idle poll did before."""
        position, at = self._known[projection.name]
        if monotonic() - at >= _ADVANCE_IDLE_EVERY:
            return False
        types = projection.event_types
        return not any(t in types for at_position, t in new_events if at_position > position)

    def _remember(self, projection: Projection, step: Step) -> None:
        result = step.result
        if result is None or result.paused or step.error is not None:
            # Unknown (a failure) or not ours to know (an admin operation holds the row).
            self._known.pop(projection.name, None)
            return
        self._known[projection.name] = (result.position, monotonic())

    def _idle_timeout(self) -> float:
        timeout = self._poll_interval
        if len(self._held) < len(self._projections):
            timeout = min(timeout, self._lock_retry_interval)
        now = monotonic()
        pending = [at - now for at in self._retry_at.values() if at > now]
        if pending:
            timeout = min(timeout, *pending)
        return max(timeout, 0.0)

    def _wait_for_notify(
        self, conn: Connection[Any], timeout: float, stop: threading.Event
    ) -> None:
        """Sleep until a writer NOTIFYs (or `timeout`); notifies received meanwhile count too."""
        deadline = monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - monotonic()
            if remaining <= 0:
                return
            woken = False
            for _ in conn.notifies(timeout=min(remaining, _WAIT_SLICE), stop_after=1):
                woken = True
                break
            if woken:
                for _ in conn.notifies(timeout=0):  # drain: one wake-up serves them all
                    pass
                return

    # -- batches and failures ----------------------------------------------------------------------

    def _step(
        self, conn: Connection[Any], projection: Projection, known_head: int | None = None
    ) -> Step:
        """One step of `run_forever`: a batch, or one move towards parking the event at fault."""
        try:
            step = self._steppers[projection.name].step(conn, known_head=known_head)
        except Exception as exc:  # operational: lost connection, lock timeout, …
            self._on_failure(conn, projection, exc)
            raise
        if step.parked is not None:
            # Recorded and logged by the stepper; the projection is past it and healthy.
            self._failures.pop(projection.name, None)
            self._retry_at.pop(projection.name, None)
            return step
        if step.error is not None:
            if step.retry_in == 0 and self._failures.get(projection.name, 0) > 0:
                # Narrowing down a failure already recorded and logged: one line is enough.
                self._failures[projection.name] += 1
                log.warning(
                    "projection_batch_narrowing",
                    projection=projection.name,
                    error=f"{type(step.error).__name__}: {step.error}",
                )
            else:
                self._on_failure(conn, projection, step.error)
            return step
        if self._failures.pop(projection.name, 0):
            self._retry_at.pop(projection.name, None)
            log.info(
                "projection_recovered", projection=projection.name, position=step_position(step)
            )
        result = step.result
        if result is not None and result.applied:
            log.debug(
                "projection_batch_applied",
                projection=projection.name,
                events=result.applied,
                position=result.position,
            )
        return step

    def _run_batch(self, conn: Connection[Any], projection: Projection, head: int) -> BatchResult:
        try:
            result = project_next_batch(
                conn,
                projection,
                known_head=head,
                batch_size=self._batch_size,
                scan_size=self._scan_size,
                before_commit=self._before_commit,
                read=self._read,
            )
        except Exception as exc:
            self._on_failure(conn, projection, exc)
            raise
        if self._failures.pop(projection.name, 0):
            self._retry_at.pop(projection.name, None)
            log.info("projection_recovered", projection=projection.name, position=result.position)
        if result.applied:
            log.debug(
                "projection_batch_applied",
                projection=projection.name,
                events=result.applied,
                position=result.position,
            )
        return result

    def _on_failure(self, conn: Connection[Any], projection: Projection, exc: Exception) -> None:
        name = projection.name
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        log.error(
            "projection_batch_failed",
            projection=name,
            failures=failures,
            error=f"{type(exc).__name__}: {exc}",
            exc_info=exc,
        )
        try:
            # A separate connection: the batch's transaction is gone, and so may be `conn`.
            with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as side:
                tracking.record_error(side, name, f"{type(exc).__name__}: {exc}")
        except psycopg.Error as record_exc:
            log.warning("projection_error_not_recorded", projection=name, error=str(record_exc))
        if conn.closed or conn.broken:
            self._drop_connection()

    def _backoff(self, failures: int) -> float:
        return float(min(self._backoff_longest, self._backoff_first * 2 ** (failures - 1)))

    # -- connection and locks -----------------------------------------------------------------

    def _connect(self, *, listen: bool = False) -> Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed:
            self._held.clear()
            self._listening = False
            conn = psycopg.connect(
                self._url, autocommit=True, application_name=self._application_name
            )
            try:
                # A batch's commit need not wait for its WAL to reach the disk: the read-model
                # rows and the tracking position commit in one transaction, so a server crash
                # can only lose whole batches, last ones first, together with their positions,
                # and the projector applies them again from the events. Exactly once holds;
                # each batch saves a WAL flush, which readers otherwise waited for.
                conn.execute("SET synchronous_commit = off")
                use_fast_json(conn)
                tracking.ensure(conn, [p.name for p in self._projections])
                # A catch-up's reads need the table's statistics (projections/statistics.py).
                ensure_event_statistics(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        if listen and not self._listening:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            self._listening = True
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        self._known.clear()
        self._listening = False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _take_free_locks(self, conn: Connection[Any]) -> None:
        for projection in self._projections:
            if projection.name not in self._held and locks.try_lock(conn, projection.name):
                self._held.add(projection.name)
                self._known.pop(projection.name, None)
                log.info("projection_lock_acquired", projection=projection.name)

    def _wait_for_lock(
        self, conn: Connection[Any], projection: Projection, timeout: float | None
    ) -> bool:
        """Block until this instance holds `projection`'s lock; True if this call took it."""
        if projection.name in self._held:
            return False
        deadline = None if timeout is None else monotonic() + timeout
        waiting_logged = False
        while not locks.try_lock(conn, projection.name):
            if not waiting_logged:
                log.info("projection_lock_busy", projection=projection.name)
                waiting_logged = True
            pause = self._lock_retry_interval
            if deadline is not None:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise LockNotAcquiredError(
                        f"projection {projection.name!r} is locked by another projector"
                    )
                pause = min(pause, remaining)
            time.sleep(pause)
        self._held.add(projection.name)
        self._known.pop(projection.name, None)
        return True

    def _release(self, projection: Projection) -> None:
        self._held.discard(projection.name)
        self._known.pop(projection.name, None)
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                locks.unlock(conn, projection.name)
            except psycopg.Error:
                self._drop_connection()  # closing the session releases the lock anyway


def step_position(step: Step) -> int | None:
    if step.result is not None:
        return step.result.position
    return None if step.parked is None else step.parked.position
