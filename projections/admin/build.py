"""Building a projection aside: batches until caught up, stoppable, with progress and parking.

Shared by rebuild (``__rebuild`` tables, swapped in at the end) and verify (``__verify``
tables, compared then dropped). Each batch commits with the aside tracking position, so the
build is exactly once and an interrupted one resumes where it stopped; poison events are
isolated and parked by the same `Stepper` as the live projector's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Any

import structlog
from psycopg import Connection

from projections import tracking
from projections.admin.common import error_text, store_head
from projections.admin.progress import ProgressCallback, ProgressMeter, ProgressUpdate
from projections.batch import Stepper
from projections.horizon import safe_head

log = structlog.get_logger(__name__)

Recorder = Callable[[ProgressUpdate, int], None]
"""Called about once a second with the progress and the events applied so far (bookkeeping)."""


@dataclass
class BuildTally:
    position: int
    applied: int = 0
    parked: int = 0


class Builder:
    """Runs `stepper` on `conn` until caught up with the store (or its `until`), or stopped.

    `total` is where progress is measured against: the head when the build started (followed
    upwards as the store grows, unless `follow_head` is off for a build bounded by `until`).
    Batches read no further than it, once the safe head has reached it (projections/horizon.py:
    appends in flight below it have ended), so no batch of a build can pass over a late commit.
    After `max_failures` failed steps in a row (with nothing parked between), the last error is
    raised: an error that is no event's fault (see `may_be_poison`) would otherwise be retried
    for ever, and a rebuild or verify is better failed (and resumable) than silently stuck.
    """

    def __init__(
        self,
        conn: Connection[Any],
        stepper: Stepper,
        tally: BuildTally,
        *,
        total: int,
        progress: ProgressCallback | None = None,
        record: Recorder | None = None,
        stop: threading.Event | None = None,
        follow_head: bool = True,
        max_failures: int = 64,
        record_every: float = 1.0,
    ) -> None:
        self._conn = conn
        self._stepper = stepper
        self.tally = tally
        self._total = total
        self._progress = progress
        self._record = record
        self._stop = stop
        self._follow_head = follow_head
        self._max_failures = max_failures
        self._record_every = record_every
        self._recorded_at = 0.0
        self._meter = ProgressMeter()
        self._safe = 0

    @property
    def total(self) -> int:
        return self._total

    def run(self) -> bool:
        """Build until caught up (True) or until `stop` is set (False)."""
        name = self._stepper.projection.name
        while True:
            if self._stop is not None and self._stop.is_set():
                self.report(force=True)
                return False
            step = self._stepper.step(self._conn, known_head=self._readable())
            if step.parked is not None:
                self.tally.parked += 1
                self.tally.position = step.parked.position
            elif step.error is not None:
                tracking.record_error(self._conn, name, error_text(step.error))
                log.warning("rebuild_batch_failed", projection=name, error=error_text(step.error))
                if self._stepper.failures > self._max_failures:
                    raise step.error
                self._wait(step.retry_in)
                continue
            result = step.result
            if result is not None:
                if result.paused:
                    self._wait(0.05)
                    continue
                self.tally.applied += result.applied
                self.tally.position = result.position
                if not result.advanced:
                    self.report(force=True)
                    return True
            if self._follow_head and self.tally.position >= self._total:
                self._total = max(self._total, store_head(self._conn))
            self.report()

    def _readable(self) -> int:
        """How far batches may read: `total`, once the safe head is known to have reached it.

        The safe head is looked up only when `total` has grown past the last one found (the last
        position drawn is never below the highest visible one, so one lookup covers `total`).
        """
        while self._safe < self._total:
            found = safe_head(self._conn)
            if found is not None:
                self._safe = found
                break
            log.info("build_waiting_for_append", projection=self._stepper.projection.name)
            if self._stop is not None and self._stop.is_set():
                break
            self._wait(0.05)
        return min(self._safe, self._total)

    def report(self, *, force: bool = False) -> None:
        update = self._meter.update(self.tally.position, self._total)
        if self._progress is not None:
            self._progress(*update)
        now = monotonic()
        if self._record is not None and (force or now - self._recorded_at >= self._record_every):
            self._recorded_at = now
            self._record(update, self.tally.applied)

    def _wait(self, seconds: float) -> None:
        """Sleep, waking early when stopped (the loop then notices)."""
        if seconds <= 0:
            return
        (self._stop or threading.Event()).wait(seconds)
