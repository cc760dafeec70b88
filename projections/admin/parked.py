"""Parked events: retrying them, skipping them, and carrying them across rebuilds and resets.

Retry semantics. A parked event sits *behind* its projection: later events of the same
aggregate may have been applied since, and a row projection ignores an event older than the
row's version, so simply handing the old event to the handler again would do nothing and call
it success. Instead, for a `RowProjection`, a retry rebuilds the rows of the event's aggregate
from all of that aggregate's events up to the projection's position, in order — the retried
ones included, events still parked (and not being retried) or skipped left out — exactly what a
rebuild from scratch would produce for those rows. It runs in one transaction holding the live
tracking row, so the live projector steps aside and no event is applied twice. If the handler
still fails, nothing changes: the event stays parked, with the new error and one more attempt.

Any other kind of projection gets the parked events handed to `apply_batch` again, in position
order; such a projection must accept an event that arrives after later ones.

Skipping records an admin's decision (who, when, why) that an event shall not be applied by
this projection; rebuilds and resets honour it, so a skipped event stays out for good.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg import Connection

from projections import tracking
from projections.admin.common import ProjectionRef, connect, error_text, resolve
from projections.admin.errors import ParkedEventNotFoundError
from projections.base import Projection
from projections.events import RECORDED_COLUMNS, RECORDED_FROM, RecordedEvent, recorded_rows
from projections.rows import RowProjection

log = structlog.get_logger(__name__)

_AGGREGATE_EVENTS = (
    f"SELECT {RECORDED_COLUMNS} FROM {RECORDED_FROM}"
    " WHERE originator_id = %s AND position <= %s AND event_type = ANY(%s)"
    " ORDER BY position"
)
_MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class RetryReport:
    """What `retry_parked` did: positions now applied, and those that failed again (why)."""

    retried: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def retry_parked(
    database_url: str,
    projection: ProjectionRef,
    position: int | None = None,
    *,
    actor: str | None = None,
) -> RetryReport:
    """Apply the parked event at `position` of `projection` (every parked one when None).

    Events are retried per aggregate, in position order, each aggregate in its own transaction.
    Raises ParkedEventNotFoundError when `position` names no parked event.
    """
    live = resolve(projection)
    report = RetryReport()
    with connect(database_url, "retry-parked") as conn:
        parked = _parked(conn, live.name, position)
        if position is not None and not parked:
            raise ParkedEventNotFoundError(
                f"projection {live.name!r} has no parked event at position {position}"
            )
        by_aggregate = itertools.groupby(
            sorted(parked, key=lambda p: (p[1], p[0])), key=lambda p: p[1]
        )
        groups = sorted(([p for p, _ in group] for _, group in by_aggregate), key=lambda ps: ps[0])
        for positions in groups:
            try:
                applied = _retry_group(conn, live, positions, actor)
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                error = error_text(exc)
                _record_failed_retry(conn, live.name, positions, error)
                log.error(
                    "parked_event_retry_failed",
                    projection=live.name,
                    positions=positions,
                    error=error,
                )
                report.failed.update(dict.fromkeys(positions, error))
                continue
            report.retried.extend(applied)
            log.info("parked_event_retried", projection=live.name, positions=applied, actor=actor)
    return report


def skip_parked(
    database_url: str, projection: ProjectionRef, position: int, reason: str, actor: str
) -> None:
    """Record that the parked event at `position` shall never be applied by `projection`."""
    if not reason.strip():
        raise ValueError("skipping a parked event needs a reason")
    name = projection if isinstance(projection, str) else projection.name
    if isinstance(projection, str):
        resolve(projection)  # an unknown name is an error, not "no such parked event"
    with connect(database_url, "skip-parked") as conn:
        row = conn.execute(
            "UPDATE projection_parked_events SET status = 'skipped', resolved_by = %s,"
            " resolved_at = now(), resolution = %s"
            " WHERE projection = %s AND position = %s AND status = 'parked' RETURNING event_type",
            (actor, reason, name, position),
        ).fetchone()
    if row is None:
        raise ParkedEventNotFoundError(
            f"projection {name!r} has no parked event at position {position}"
        )
    log.warning(
        "parked_event_skipped",
        projection=name,
        position=position,
        event_type=row[0],
        actor=actor,
        reason=reason,
    )


# -- rebuilds and resets --------------------------------------------------------------------------


def merge_after_swap(
    conn: Connection[Any], live: str, aside: str, position: int, resolution: str, actor: str | None
) -> None:
    """Make the parked events of a rebuild that was just swapped in the live projection's.

    Up to the rebuilt `position`, the rebuilt tables hold every event except those the rebuild
    parked (and the skipped ones): live entries the rebuild did apply are marked retried, and
    the rebuild's parked events become live ones. Above it (a reset), see `after_reset`.
    """
    conn.execute(
        "UPDATE projection_parked_events l SET status = 'retried', resolved_by = %s,"
        " resolved_at = now(), resolution = %s"
        " WHERE l.projection = %s AND l.status = 'parked' AND l.position <= %s"
        " AND NOT EXISTS (SELECT 1 FROM projection_parked_events r"
        "  WHERE r.projection = %s AND r.position = l.position)",
        (actor, resolution, live, position, aside),
    )
    conn.execute(
        "INSERT INTO projection_parked_events (projection, position, event_id, event_type,"
        " originator_id, originator_version, error, attempts, parked_at)"
        " SELECT %s, position, event_id, event_type, originator_id, originator_version, error,"
        " attempts, parked_at FROM projection_parked_events WHERE projection = %s"
        " ON CONFLICT (projection, position) DO UPDATE SET error = EXCLUDED.error,"
        " attempts = projection_parked_events.attempts + EXCLUDED.attempts,"
        " parked_at = EXCLUDED.parked_at, status = 'parked', resolved_by = NULL,"
        " resolved_at = NULL, resolution = NULL",
        (live, aside),
    )
    conn.execute("DELETE FROM projection_parked_events WHERE projection = %s", (aside,))
    after_reset(conn, live, position)


def after_reset(conn: Connection[Any], live: str, position: int) -> None:
    """Events parked beyond `position` will reach the projector again: mark them so.

    If one fails again it is parked again (its row flips back to parked); skipped events stay
    skipped, and the projector leaves them out.
    """
    conn.execute(
        "UPDATE projection_parked_events SET status = 'retried', resolved_at = now(),"
        " resolution = %s WHERE projection = %s AND status = 'parked' AND position > %s",
        (f"reset to position {position}: the projector applies it again", live, position),
    )


def discard(conn: Connection[Any], name: str) -> None:
    """Forget the parked events of an aside build (its tables are being dropped)."""
    conn.execute("DELETE FROM projection_parked_events WHERE projection = %s", (name,))


def parked_positions(conn: Connection[Any], name: str) -> list[int]:
    rows = conn.execute(
        "SELECT position FROM projection_parked_events WHERE projection = %s ORDER BY position",
        (name,),
    ).fetchall()
    return [int(row[0]) for row in rows]


# -- retry internals ---------------------------------------------------------------------------


def _parked(conn: Connection[Any], name: str, position: int | None) -> list[tuple[int, UUID]]:
    rows = conn.execute(
        "SELECT position, originator_id FROM projection_parked_events"
        " WHERE projection = %s AND status = 'parked' AND (%s::bigint IS NULL OR position = %s)"
        " ORDER BY position",
        (name, position, position),
    ).fetchall()
    return [(int(p), o) for p, o in rows]


def _retry_group(
    conn: Connection[Any], live: Projection, positions: Sequence[int], actor: str | None
) -> list[int]:
    """Apply one aggregate's parked `positions`; return those applied (others were resolved)."""
    with conn.transaction():
        at = tracking.lock(conn, live.name)  # the live projector steps aside meanwhile
        still = conn.execute(
            "SELECT position FROM projection_parked_events WHERE projection = %s"
            " AND position = ANY(%s) AND status = 'parked' ORDER BY position FOR UPDATE",
            (live.name, list(positions)),
        ).fetchall()
        retrying = [int(row[0]) for row in still]
        if not retrying:
            return []
        if isinstance(live, RowProjection):
            _rebuild_rows(conn, live, retrying, at)
        else:
            events = [e for e in _events_at(conn, retrying) if e.event_type in live.event_types]
            live.apply_batch(conn, events)
        conn.execute(
            "UPDATE projection_parked_events SET status = 'retried', resolved_by = %s,"
            " resolved_at = now(), resolution = 'applied by retry'"
            " WHERE projection = %s AND position = ANY(%s)",
            (actor, live.name, retrying),
        )
    return retrying


def _rebuild_rows(
    conn: Connection[Any], live: RowProjection, retrying: Sequence[int], at: int
) -> None:
    """Rebuild the row of the retried events' aggregate from all of its events up to `at`."""
    aggregate = conn.execute(
        "SELECT DISTINCT originator_id FROM events WHERE position = ANY(%s)", (list(retrying),)
    ).fetchall()
    for (originator_id,) in aggregate:
        held_back = tracking.excluded_positions(
            conn, live.name, (tracking.PARKED, tracking.SKIPPED), after=0, upto=at
        ) - set(retrying)
        with conn.cursor(row_factory=recorded_rows) as cur:
            cur.execute(_AGGREGATE_EVENTS, (originator_id, at, list(live.event_types)))
            events = [e for e in cur.fetchall() if e.position not in held_back]
        rows, applied = live.apply_all({}, events)
        live.store(conn, rows.values())
        live.after_store(conn, rows, applied)


def _events_at(conn: Connection[Any], positions: Sequence[int]) -> list[RecordedEvent]:
    with conn.cursor(row_factory=recorded_rows) as cur:
        cur.execute(
            f"SELECT {RECORDED_COLUMNS} FROM {RECORDED_FROM}"
            " WHERE position = ANY(%s) ORDER BY position",
            (list(positions),),
        )
        return cur.fetchall()


def _record_failed_retry(
    conn: Connection[Any], name: str, positions: Sequence[int], error: str
) -> None:
    conn.execute(
        "UPDATE projection_parked_events SET attempts = attempts + 1, error = %s"
        " WHERE projection = %s AND position = ANY(%s) AND status = 'parked'",
        (error[:_MAX_ERROR_CHARS], name, list(positions)),
    )
