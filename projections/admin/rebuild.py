"""Rebuild a projection from position zero without taking its read side down.

    building     fill ``<table>__rebuild`` copies (primary keys only) from position 0, tracked
                 as ``<name>__rebuild``, while the live tables keep serving and keep following
                 the store
    catching_up  build the other indexes and ANALYZE; follow the store up to its head again
    swapping     one transaction: hold the live tracking row (the live projector steps aside),
                 apply the last events, drop the live tables, rename the rebuilt ones (and their
                 indexes) to the live names, move the live position to the rebuilt one, and
                 carry parked events over
    done

Readers see the old complete tables until the swap commits and the new complete ones after;
the swap holds the tables' locks for milliseconds. A lock_timeout bounds how long the swap may
wait behind a reader (so that readers arriving meanwhile do not queue behind it); when it
expires the rebuild catches up again and retries.

Interrupting (a `stop` event, Ctrl-C, a killed process) leaves the copies, their tracking row
and the open ``projection_rebuilds`` row behind; the next rebuild of that projection resumes
from the copies' position instead of starting over, unless `from_scratch` is asked for, or the
live tables changed shape since (a migration), or a reset needs an earlier position. A rebuild
resumed after the projection's code changed mixes rows built by both versions: after a code
change, rebuild `from_scratch`.

A reset to a position is the same machinery with a stop position (`reset.py`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import psycopg
import structlog
from psycopg import Connection

from projections import locks, tracking
from projections.admin import parked, rebuilds, schema
from projections.admin.build import Builder, BuildTally
from projections.admin.common import (
    REBUILD_SUFFIX,
    ProjectionRef,
    connect,
    error_text,
    resolve,
    store_head,
)
from projections.admin.errors import (
    InvalidPositionError,
    OperationInProgressError,
    RebuildFailedError,
)
from projections.admin.progress import ProgressCallback, ProgressUpdate
from projections.base import Projection
from projections.batch import Exclusions, PoisonPolicy, Stepper, may_be_poison, project_next_batch
from projections.prefetch import Prefetcher
from projections.statistics import ensure_event_statistics

log = structlog.get_logger(__name__)

# Measured on the 1,000,000-event bench: 10,000 is a little faster than 5,000 (fewer round trips)
# and 20,000 no faster; a batch's rows and events stay a few megabytes.
DEFAULT_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild (or reset) run did."""

    name: str
    kind: str
    """``rebuild`` or ``reset``."""
    outcome: str
    """``done`` (swapped in) or ``stopped`` (interrupted; run again to resume)."""
    position: int
    """The rebuilt position: the live position after the swap, when done."""
    events_applied: int
    """Events handed to the projection by this run."""
    resumed_from: int | None
    """The position this run resumed from; None when it started from scratch."""
    parked: int
    """Events this run parked (now the live projection's parked events)."""
    seconds: float
    rebuild_id: int
    swap_seconds: float = 0.0
    """How long the swap transaction took: the most a reader of the live tables waited."""

    @property
    def done(self) -> bool:
        return self.outcome == "done"

    @property
    def rate(self) -> float:
        """Events applied per second by this run."""
        return self.events_applied / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RebuildOptions:
    batch_size: int = DEFAULT_BATCH_SIZE
    park_after: int | None = 5
    retry_backoff: tuple[float, float] = (0.5, 30.0)
    swap_lock_timeout: float = 5.0
    """Longest wait for the live tables' locks at the swap before trying again."""
    swap_attempts: int = 10


def rebuild_projection(
    database_url: str,
    projection: ProjectionRef,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event | None = None,
    from_scratch: bool = False,
    requested_by: str | None = None,
    park_after: int | None = 5,
    retry_backoff: tuple[float, float] = (0.5, 30.0),
    swap_lock_timeout: float = 5.0,
) -> RebuildReport:
    """Rebuild `projection` (a name or object) from position zero and swap it in.

    Blocks until done or until `stop` is set (then returns with outcome ``stopped``; calling
    again resumes). Safe to call from any thread; one rebuild per projection runs at a time
    across all processes (OperationInProgressError otherwise).
    """
    options = RebuildOptions(batch_size, park_after, retry_backoff, swap_lock_timeout)
    return Rebuild(database_url, resolve(projection), options, requested_by).run(
        stop_position=None, progress=progress, stop=stop, from_scratch=from_scratch
    )


class Rebuild:
    """One run of a rebuild or reset of `live`, on its own connection."""

    def __init__(
        self,
        database_url: str,
        live: Projection,
        options: RebuildOptions,
        requested_by: str | None,
    ) -> None:
        self._url = database_url
        self.live = live
        self.aside = live.with_suffix(REBUILD_SUFFIX)
        self.options = options
        self.requested_by = requested_by

    @property
    def url(self) -> str:
        return self._url

    def run(
        self,
        *,
        stop_position: int | None,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
        from_scratch: bool,
    ) -> RebuildReport:
        started = perf_counter()
        kind = rebuilds.REBUILD if stop_position is None else rebuilds.RESET
        with connect(self._url, "rebuild") as conn:
            if not locks.try_lock(conn, self.aside.name):
                raise OperationInProgressError(
                    f"projection {self.live.name!r} is being rebuilt or reset by another process"
                )
            head = store_head(conn)
            if stop_position is not None and not 0 <= stop_position <= head:
                raise InvalidPositionError(
                    f"cannot reset {self.live.name!r} to position {stop_position}: "
                    f"positions run from 0 to the store's head, {head}"
                )
            tracking.ensure(conn, [self.live.name])
            ensure_event_statistics(conn)  # its replay reads like a catch-up
            rebuild_id, resumed_from = self._prepare(conn, kind, stop_position, head, from_scratch)
            log.info(
                "rebuild_started",
                projection=self.live.name,
                kind=kind,
                rebuild_id=rebuild_id,
                resumed_from=resumed_from,
                target=stop_position if stop_position is not None else head,
            )
            run = _Run(conn, self, rebuild_id, stop_position, progress, stop)
            try:
                outcome = run.execute(head if stop_position is None else stop_position)
            except Exception as exc:
                _mark_failed(self._url, rebuild_id, exc)
                log.error("rebuild_failed", projection=self.live.name, error=error_text(exc))
                raise
            finally:
                run.prefetch.close()
        report = RebuildReport(
            name=self.live.name,
            kind=kind,
            outcome=outcome,
            position=run.tally.position,
            events_applied=run.tally.applied,
            resumed_from=resumed_from,
            parked=run.tally.parked,
            seconds=perf_counter() - started,
            rebuild_id=rebuild_id,
            swap_seconds=run.swap_seconds,
        )
        log.info("rebuild_" + outcome, projection=self.live.name, **_loggable(report))
        return report

    def _prepare(
        self,
        conn: Connection[Any],
        kind: str,
        stop_position: int | None,
        head: int,
        from_scratch: bool,
    ) -> tuple[int, int | None]:
        """Resume the open rebuild if it can be; else start one from empty copies."""
        with conn.transaction():
            current = rebuilds.open_rebuild(conn, self.live.name)
            if current is not None and not from_scratch:
                position = self._resumable_position(conn, stop_position)
                if position is not None:
                    rebuilds.resume(
                        conn,
                        current.id,
                        kind=kind,
                        stop_position=stop_position,
                        requested_by=self.requested_by,
                    )
                    return current.id, position
            if current is not None:
                rebuilds.abandon(conn, current.id, "started again from scratch")
            parked.discard(conn, self.aside.name)
            schema.create_aside(conn, self.live.tables, REBUILD_SUFFIX)
            tracking.set_position(conn, self.aside.name, 0)
            rebuild_id = rebuilds.start(
                conn,
                self.live.name,
                kind=kind,
                stop_position=stop_position,
                target=head if stop_position is None else stop_position,
                requested_by=self.requested_by,
            )
            return rebuild_id, None

    def _resumable_position(self, conn: Connection[Any], stop_position: int | None) -> int | None:
        position = tracking.position_of(conn, self.aside.name)
        if position is None or (stop_position is not None and position > stop_position):
            return None
        for logical in self.live.tables:
            live, aside = self.live.tables[logical], self.aside.tables[logical]
            if not schema.exists(conn, aside) or not schema.same_shape(conn, live, aside):
                return None
        return position


class _Run:
    """The phases of one run, after preparation."""

    def __init__(
        self,
        conn: Connection[Any],
        rebuild: Rebuild,
        rebuild_id: int,
        stop_position: int | None,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
    ) -> None:
        self._conn = conn
        self._rebuild = rebuild
        self._id = rebuild_id
        self._until = stop_position
        self._progress = progress
        self._stop = stop
        options = rebuild.options
        self._options = options
        self._exclusions = Exclusions(rebuild.live.name)
        # The next batch's events are read while this one is applied (projections/prefetch.py).
        self.prefetch = Prefetcher(rebuild.url, application_name="bytedash-rebuild-read")
        self._stepper = Stepper(
            rebuild.aside,
            batch_size=options.batch_size,
            scan_size=10 * options.batch_size,
            policy=PoisonPolicy(attempts=options.park_after, backoff=options.retry_backoff),
            until=stop_position,
            exclusions=self._exclusions,
            read=self.prefetch.read,
        )
        self.tally = BuildTally(position=tracking.position_of(conn, rebuild.aside.name) or 0)
        self._resumed_at = self.tally.position
        self._applied_before = rebuilds.applied_so_far(conn, rebuild_id)
        self._started = perf_counter()
        self.swap_seconds = 0.0

    def execute(self, target: int) -> str:
        conn, live, aside = self._conn, self._rebuild.live, self._rebuild.aside
        builder = self._builder(target)
        if not builder.run():
            return "stopped"
        rebuilds.set_phase(conn, self._id, rebuilds.CATCHING_UP)
        schema.add_indexes(conn, live.tables, REBUILD_SUFFIX)
        for attempt in range(1, self._options.swap_attempts + 1):
            if not self._builder(builder.total).run():
                return "stopped"
            rebuilds.set_phase(conn, self._id, rebuilds.SWAPPING)
            try:
                self._swap()
                return "done"
            except psycopg.errors.LockNotAvailable as exc:
                reason = error_text(exc)
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                if not may_be_poison(exc):
                    raise
                reason = error_text(exc)  # an event failed inside the swap: isolate it first
            log.warning("rebuild_swap_retry", projection=live.name, attempt=attempt, reason=reason)
            rebuilds.set_phase(conn, self._id, rebuilds.CATCHING_UP)
            time.sleep(min(0.1 * attempt, 1.0))
        raise RebuildFailedError(
            f"could not swap {aside.name} in after {self._options.swap_attempts} attempts"
        )

    def _builder(self, total: int) -> Builder:
        return Builder(
            self._conn,
            self._stepper,
            self.tally,
            total=total,
            progress=self._progress,
            record=self._record,
            stop=self._stop,
            follow_head=self._until is None,
        )

    def _record(self, update: ProgressUpdate, applied: int) -> None:
        rebuilds.record_progress(
            self._conn,
            self._id,
            position=update.done,
            target=update.total,
            applied=self._applied_before + applied,
            rate=update.rate,
            eta=update.eta,
        )

    def _swap(self) -> None:
        """The swap transaction (see the module docstring)."""
        conn, live, aside = self._conn, self._rebuild.live, self._rebuild.aside
        timeout_ms = int(self._options.swap_lock_timeout * 1000)
        began = perf_counter()
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{timeout_ms}ms",))
            tracking.lock(conn, live.name)
            while True:
                result = project_next_batch(
                    conn,
                    aside,
                    batch_size=self._options.batch_size,
                    scan_size=10 * self._options.batch_size,
                    until=self._until,
                    exclusions=self._exclusions,
                )
                self.tally.applied += result.applied
                if not result.advanced:
                    break
            position = result.position
            schema.swap_in(conn, live.tables, REBUILD_SUFFIX)
            conn.execute(
                "UPDATE projection_tracking SET position = %s, state = 'running', error_count = 0,"
                " updated_at = now() WHERE name = %s",
                (position, live.name),
            )
            tracking.remove(conn, aside.name)
            parked.merge_after_swap(
                conn,
                live.name,
                aside.name,
                position,
                f"applied by rebuild #{self._id}",
                self._rebuild.requested_by,
            )
            elapsed = perf_counter() - self._started
            rebuilds.finish(
                conn,
                self._id,
                position=position,
                applied=self._applied_before + self.tally.applied,
                rate=(position - self._resumed_at) / elapsed if elapsed > 0 else 0.0,
            )
            conn.execute("NOTIFY events")  # wake live projectors that stepped aside
        self.tally.position = position
        self.swap_seconds = perf_counter() - began


def _mark_failed(database_url: str, rebuild_id: int, exc: BaseException) -> None:
    """Record the failure from a fresh connection (the rebuild's may be the thing that broke)."""
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as side:
            rebuilds.fail(side, rebuild_id, error_text(exc))
    except psycopg.Error as record_exc:
        log.warning("rebuild_failure_not_recorded", rebuild_id=rebuild_id, error=str(record_exc))


def _loggable(report: RebuildReport) -> dict[str, Any]:
    return {
        "position": report.position,
        "events_applied": report.events_applied,
        "parked": report.parked,
        "seconds": round(report.seconds, 3),
        "resumed_from": report.resumed_from,
    }
