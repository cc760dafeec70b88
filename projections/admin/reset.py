"""Reset a projection to a position: afterwards its tables hold exactly the events up to it.

To 0: with the live tracking row held (the live projector steps aside), empty the tables and set
the position to 0, in one transaction; the projector then replays the whole store. Readers see
the read model empty and refilling — that is what a reset to zero is; `rebuild` is the way to
start over without read downtime.

To a later position, emptying is not enough (the tables would have to forget only the events
after it, which load-modify-store rows cannot do), so the only correct way is to build the
tables again up to that position, aside, and swap them in: a rebuild with a stop position. The
projector then follows on from there.

Parked events beyond the position are marked for replay (`parked.after_reset`); skipped ones
stay skipped.
"""

from __future__ import annotations

import threading
from time import perf_counter

import structlog
from psycopg import sql

from projections import locks, tracking
from projections.admin import parked, rebuilds
from projections.admin.common import REBUILD_SUFFIX, ProjectionRef, connect, resolve
from projections.admin.errors import InvalidPositionError, OperationInProgressError
from projections.admin.progress import ProgressCallback
from projections.admin.rebuild import DEFAULT_BATCH_SIZE, Rebuild, RebuildOptions, RebuildReport
from projections.base import Projection

log = structlog.get_logger(__name__)


def reset_projection(
    database_url: str,
    projection: ProjectionRef,
    to_position: int,
    *,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    requested_by: str | None = None,
    park_after: int | None = 5,
    lock_timeout: float = 5.0,
) -> RebuildReport:
    """Reset `projection` to `to_position` (0 ≤ position ≤ the store's head).

    Raises InvalidPositionError for a position out of range, OperationInProgressError while a
    rebuild or another reset of the projection runs. A reset to a later position is resumable
    like a rebuild (`stop`, interruption).
    """
    live = resolve(projection)
    if to_position < 0:
        raise InvalidPositionError(f"cannot reset {live.name!r} to a negative position")
    if to_position == 0:
        return _reset_to_zero(database_url, live, requested_by, lock_timeout)
    options = RebuildOptions(
        batch_size=batch_size, park_after=park_after, swap_lock_timeout=lock_timeout
    )
    return Rebuild(database_url, live, options, requested_by).run(
        stop_position=to_position, progress=progress, stop=stop, from_scratch=False
    )


def _reset_to_zero(
    database_url: str, live: Projection, requested_by: str | None, lock_timeout: float
) -> RebuildReport:
    started = perf_counter()
    with connect(database_url, "reset") as conn:
        if not locks.try_lock(conn, live.name + REBUILD_SUFFIX):
            raise OperationInProgressError(
                f"projection {live.name!r} is being rebuilt or reset by another process"
            )
        tracking.ensure(conn, [live.name])
        with conn.transaction():
            conn.execute(
                "SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout * 1000)}ms",)
            )
            tracking.lock(conn, live.name)  # the live projector steps aside
            conn.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in live.tables.values())
                )
            )
            conn.execute(
                "UPDATE projection_tracking SET position = 0, state = 'running', error_count = 0,"
                " updated_at = now() WHERE name = %s",
                (live.name,),
            )
            parked.after_reset(conn, live.name, 0)
            reset_id = rebuilds.record_reset(conn, live.name, requested_by=requested_by)
            conn.execute("NOTIFY events")  # the projector starts replaying at once
    log.warning("projection_reset", projection=live.name, position=0, actor=requested_by)
    return RebuildReport(
        name=live.name,
        kind=rebuilds.RESET,
        outcome="done",
        position=0,
        events_applied=0,
        resumed_from=None,
        parked=0,
        seconds=perf_counter() - started,
        rebuild_id=reset_id,
    )
