"""One batch of one projection, in one transaction: the unit of exactly-once.

    BEGIN
      position := tracking row FOR UPDATE
      window   := next `scan_size` positions after it (never past `until`)
      events   := the projection's event types within the window (at most `batch_size`),
                  less the events it was told to leave out (skipped by an admin)
      apply the events (the projection loads, modifies and stores its rows)
      tracking position := end of what was read
      before_commit hook (tests simulate a crash here)
    COMMIT

Either all of it commits or none of it does, so a crash anywhere replays the same batch.

When a batch keeps failing, `Stepper` (below) finds the one event at fault by halving the batch,
retries that event with backoff, and after the last attempt parks it: it records the event in
``projection_parked_events`` and moves the position past it in one transaction, so the events
before and after it are applied normally and the parked one is never lost from sight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import Connection

from projections import tracking
from projections.base import Projection
from projections.events import RecordedEvent, read_events
from projections.horizon import safe_head
from projections.prefetch import EventReader

log = structlog.get_logger(__name__)

BeforeCommit = Callable[[Projection, Sequence[RecordedEvent]], None]


@dataclass(frozen=True)
class Exclusions:
    """The events a build leaves out: those parked for `name` with one of `statuses`.

    By default a projection leaves out what an admin skipped for it. A rebuild, tracked under
    another name, leaves out what was skipped for the live projection; `verify` also leaves out
    what is still parked, because the live tables it compares against lack those events too.
    """

    name: str
    statuses: tuple[str, ...] = (tracking.SKIPPED,)


@dataclass(frozen=True)
class BatchResult:
    applied: int
    """Events handed to the projection (those of its types within the window)."""
    position: int
    """The tracking position after the batch."""
    advanced: bool
    """False when there was nothing after the position: the projection is caught up."""
    paused: bool = False
    """True when an admin operation held the tracking row and `skip_locked` was asked for."""


def project_next_batch(
    conn: Connection[Any],
    projection: Projection,
    *,
    batch_size: int,
    scan_size: int,
    before_commit: BeforeCommit | None = None,
    until: int | None = None,
    known_head: int | None = None,
    exclusions: Exclusions | None = None,
    skip_locked: bool = False,
    read: EventReader = read_events,
) -> BatchResult:
    """Apply the next batch of `projection` and commit it with its position.

    `conn` must not be inside a transaction already (autocommit connections are expected):
    this function's transaction is the one that commits.

    Args:
        until: never move past this position (a reset builds up to a position and stops).
        known_head: a safe head the caller observed (projections/horizon.py): read no further.
            None: find the safe head now, waiting briefly for appends in flight.
        exclusions: events to leave out; default: those an admin skipped for this projection.
        skip_locked: when another transaction holds the tracking row (a rebuild's swap, a
            reset), return at once with ``paused`` instead of waiting for it.
        read: how the window's events are read: `read_events`, or a `Prefetcher`'s `read`
            (projections/prefetch.py), which returns the same events, often read ahead.
    """
    with conn.transaction():
        if skip_locked:
            locked = tracking.try_lock(conn, projection.name)
            if locked is None:
                current = tracking.position_of(conn, projection.name) or 0
                return BatchResult(applied=0, position=current, advanced=False, paused=True)
            position = locked
        else:
            position = tracking.lock(conn, projection.name)
        upto = _window(conn, position, scan_size, until, known_head)
        if upto is None:
            return BatchResult(applied=0, position=position, advanced=False)
        events = read(
            conn,
            after=position,
            upto=upto,
            event_types=projection.event_types,
            limit=batch_size,
            personal=projection.reads_personal_data,
        )
        if len(events) == batch_size:
            # The batch filled up before the window's end: resume right after its last event.
            upto = events[-1].position
        events = _without_excluded(conn, projection, events, exclusions, after=position, upto=upto)
        if events:
            projection.apply_batch(conn, events)
        tracking.advance(conn, projection.name, upto)
        if before_commit is not None:
            before_commit(projection, events)
    return BatchResult(applied=len(events), position=upto, advanced=True)


def _window(
    conn: Connection[Any],
    position: int,
    scan_size: int,
    until: int | None,
    known_head: int | None,
) -> int | None:
    """The window's last position, or None when there is nothing (allowed) after `position`.

    At most `scan_size` positions, and never past the safe head: below it every event that will
    ever exist is visible, so the window is the same whenever it is read.
    """
    if until is not None and position >= until:
        return None
    safe = known_head if known_head is not None else safe_head(conn)
    if safe is None or position >= safe:
        return None
    upto = min(position + scan_size, safe)
    return upto if until is None else min(upto, until)


def _without_excluded(
    conn: Connection[Any],
    projection: Projection,
    events: list[RecordedEvent],
    exclusions: Exclusions | None,
    *,
    after: int,
    upto: int,
) -> list[RecordedEvent]:
    if not events:
        return events
    rule = exclusions if exclusions is not None else Exclusions(projection.name)
    excluded = tracking.excluded_positions(conn, rule.name, rule.statuses, after=after, upto=upto)
    if not excluded:
        return events
    return [event for event in events if event.position not in excluded]


def first_pending_event(
    conn: Connection[Any],
    projection: Projection,
    *,
    scan_size: int,
    until: int | None = None,
    exclusions: Exclusions | None = None,
) -> tuple[int, RecordedEvent] | None:
    """The projection's position and the event its next one-event batch would apply, if any."""
    position = tracking.position_of(conn, projection.name)
    if position is None:
        return None
    upto = _window(conn, position, scan_size, until, None)
    if upto is None:
        return None
    events = read_events(
        conn,
        after=position,
        upto=upto,
        event_types=projection.event_types,
        limit=1,
        personal=projection.reads_personal_data,
    )
    events = _without_excluded(conn, projection, events, exclusions, after=position, upto=upto)
    return (position, events[0]) if events else None


# -- poison events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoisonPolicy:
    """How a projection treats an event that keeps failing.

    Attributes:
        attempts: tries of the one event at fault before it is parked; None never parks (the
            projection retries it forever, stuck behind it, as before parking existed).
        backoff: (first, longest) delay in seconds between those tries, doubling.
        max_parked_in_a_row: parks with nothing applied in between after which parking stops.
            A projection that fails on *every* event has a bug, not poison events: it should
            stop, in the error state, rather than park the whole stream one event at a time.
    """

    attempts: int | None = 5
    backoff: tuple[float, float] = (0.5, 30.0)
    max_parked_in_a_row: int = 10

    def delay(self, failures: int) -> float:
        first, longest = self.backoff
        return float(min(longest, first * 2 ** max(failures - 1, 0)))


@dataclass(frozen=True)
class Step:
    """What one `Stepper.step` did."""

    result: BatchResult | None = None
    """The committed batch, when the step succeeded."""
    error: Exception | None = None
    """Why the step failed (the caller records and logs it)."""
    retry_in: float = 0.0
    """Seconds to wait before the next step: 0 while narrowing down a failure."""
    parked: RecordedEvent | None = None
    """The event this step parked, if it did."""

    @property
    def advanced(self) -> bool:
        return self.parked is not None or (self.result is not None and self.result.advanced)


def may_be_poison(exc: BaseException) -> bool:
    """Whether an event's content could be what makes `exc` happen.

    Errors raised by handlers (Python exceptions) and data or constraint errors from Postgres
    (a value that does not fit a column) can be an event's fault. Lost connections, lock
    timeouts and serialisation failures (OperationalError) are the environment's; a missing
    table or column (ProgrammingError) is the deployment's. Parking an event for those would
    park good events, so they are retried for as long as they last, never parked.
    """
    if isinstance(exc, psycopg.Error):
        return isinstance(exc, psycopg.DataError | psycopg.IntegrityError)
    return True


class Stepper:
    """Runs one projection batch after batch, isolating and parking poison events.

    On a failure that may be an event's fault, the next step tries half as many events, with
    no delay (each try commits the events before the fault that it could apply). Once one
    event alone fails, it is tried `policy.attempts` times with backoff, then parked. Batches
    grow back to full size once past the failing region. State (the batch size, the event under
    suspicion) lives here, per process: a restart counts the attempts again, from one.

    Operational errors (see `may_be_poison`) are raised, for the caller's reconnect logic.
    """

    def __init__(
        self,
        projection: Projection,
        *,
        batch_size: int,
        scan_size: int,
        policy: PoisonPolicy,
        until: int | None = None,
        exclusions: Exclusions | None = None,
        skip_locked: bool = False,
        before_commit: BeforeCommit | None = None,
        read: EventReader = read_events,
    ) -> None:
        self.projection = projection
        self._read = read
        self._batch_size = batch_size
        self._scan_size = scan_size
        self._policy = policy
        self._until = until
        self._exclusions = exclusions
        self._skip_locked = skip_locked
        self._before_commit = before_commit
        self._limit = batch_size
        self._cooldown = 0
        self._failures = 0
        self._suspect: tuple[int, int] | None = None  # (position, attempts so far)
        self._parked_in_a_row = 0
        self._halt_logged = False

    @property
    def failures(self) -> int:
        """Consecutive failed steps (0 after a success)."""
        return self._failures

    def step(self, conn: Connection[Any], *, known_head: int | None = None) -> Step:
        try:
            result = project_next_batch(
                conn,
                self.projection,
                batch_size=self._limit,
                scan_size=self._scan_size,
                before_commit=self._before_commit,
                until=self._until,
                known_head=known_head,
                exclusions=self._exclusions,
                skip_locked=self._skip_locked,
                read=self._read,
            )
        except psycopg.OperationalError:
            raise
        except Exception as exc:
            return self._failed(conn, exc)
        self._succeeded(result)
        return Step(result=result)

    def _succeeded(self, result: BatchResult) -> None:
        if result.paused:
            return
        self._failures = 0
        if result.applied:
            self._parked_in_a_row = 0
            self._halt_logged = False
        if self._limit < self._batch_size:
            self._cooldown -= result.applied
            if self._cooldown <= 0 or not result.advanced:
                self._limit, self._cooldown = self._batch_size, 0
        if self._suspect is not None and result.position >= self._suspect[0]:
            self._suspect = None

    def _failed(self, conn: Connection[Any], exc: Exception) -> Step:
        self._failures += 1
        backoff = Step(error=exc, retry_in=self._policy.delay(self._failures))
        if self._policy.attempts is None or not may_be_poison(exc):
            return backoff
        if self._limit > 1:
            # The fault lies within the first `limit` events: try the first half of them.
            self._cooldown = self._limit
            self._limit = max(1, self._limit // 2)
            return Step(error=exc, retry_in=0.0)
        pending = first_pending_event(
            conn,
            self.projection,
            scan_size=self._scan_size,
            until=self._until,
            exclusions=self._exclusions,
        )
        if pending is None:
            return backoff  # nothing to blame (the failure came from elsewhere)
        position, event = pending
        seen = self._suspect
        attempts = seen[1] + 1 if seen is not None and seen[0] == event.position else 1
        self._suspect = (event.position, attempts)
        delay = self._policy.delay(attempts)
        if attempts < self._policy.attempts:
            return Step(error=exc, retry_in=delay)
        if self._parked_in_a_row >= self._policy.max_parked_in_a_row:
            if not self._halt_logged:
                self._halt_logged = True
                log.error(
                    "projection_parking_halted",
                    projection=self.projection.name,
                    parked_in_a_row=self._parked_in_a_row,
                    position=event.position,
                )
            return Step(error=exc, retry_in=delay)
        if not self._park(conn, position, event, exc, attempts):
            return Step(error=exc, retry_in=0.0)  # the position moved meanwhile: look again
        self._suspect = None
        self._failures = 0
        self._parked_in_a_row += 1
        self._limit, self._cooldown = self._batch_size, 0
        return Step(error=exc, parked=event)

    def _park(
        self,
        conn: Connection[Any],
        expected: int,
        event: RecordedEvent,
        exc: Exception,
        attempts: int,
    ) -> bool:
        """Park `event` and move past it, if the projection is still where it was seen."""
        name = self.projection.name
        error = f"{type(exc).__name__}: {exc}"
        with conn.transaction():
            if self._skip_locked:
                position = tracking.try_lock(conn, name)
            else:
                position = tracking.lock(conn, name)
            if position != expected:
                return False
            tracking.park(conn, name, event, error, attempts)
            tracking.advance(conn, name, event.position)
            tracking.record_parked(
                conn,
                name,
                f"parked {event.event_type} at position {event.position} after {attempts} "
                f"attempts: {error}",
            )
        log.error(
            "projection_event_parked",
            projection=name,
            position=event.position,
            event_type=event.event_type,
            originator_id=str(event.originator_id),
            attempts=attempts,
            error=error,
        )
        return True
