"""One batch of one projection, in one transaction: the unit of exactly-once.

    BEGIN
      position := tracking row FOR UPDATE
      window   := next `scan_size` positions after it
      events   := the projection's event types within the window (at most `batch_size`)
      apply the events (the projection loads, modifies and stores its rows)
      tracking position := end of what was read
      before_commit hook (tests simulate a crash here)
    COMMIT

Either all of it commits or none of it does, so a crash anywhere replays the same batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection

from projections import tracking
from projections.base import Projection
from projections.events import RecordedEvent, read_events, window_end

BeforeCommit = Callable[[Projection, Sequence[RecordedEvent]], None]


@dataclass(frozen=True)
class BatchResult:
    applied: int
    """Events handed to the projection (those of its types within the window)."""
    position: int
    """The tracking position after the batch."""
    advanced: bool
    """False when there was nothing after the position: the projection is caught up."""


def project_next_batch(
    conn: Connection[Any],
    projection: Projection,
    *,
    batch_size: int,
    scan_size: int,
    before_commit: BeforeCommit | None = None,
) -> BatchResult:
    """Apply the next batch of `projection` and commit it with its position.

    `conn` must not be inside a transaction already (autocommit connections are expected):
    this function's transaction is the one that commits.
    """
    with conn.transaction():
        position = tracking.lock(conn, projection.name)
        upto = window_end(conn, position, scan_size)
        if upto is None:
            return BatchResult(applied=0, position=position, advanced=False)
        events = read_events(
            conn, after=position, upto=upto, event_types=projection.event_types, limit=batch_size
        )
        if len(events) == batch_size:
            # The batch filled up before the window's end: resume right after its last event.
            upto = events[-1].position
        if events:
            projection.apply_batch(conn, events)
        tracking.advance(conn, projection.name, upto)
        if before_commit is not None:
            before_commit(projection, events)
    return BatchResult(applied=len(events), position=upto, advanced=True)
