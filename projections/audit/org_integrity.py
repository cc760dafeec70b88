"""One org's share of an integrity check (``GET /audit/verify`` for an org's admins).

The hash chain runs through every org's events, so an org's events cannot be verified without
walking the others: the walk is the same as an operator's (`verify_chain`). What an org's
admins are told is only what concerns them: whether the chain holds, how many of *their* events
it vouches for, their newest event, and where it breaks only when it breaks at one of their
events. The store's size, its head position and head hash (from which the other orgs' activity
can be followed) stay with platform operators.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row

from projections.audit.integrity import IntegrityReport

SCOPE = "org"

_COUNTS = (
    "SELECT count(*), coalesce(max(position), 0) FROM events WHERE org_id = %s AND position <= %s"
)
_ORG_AT = "SELECT org_id FROM events WHERE position = %s"
_ORG_UNSEALED = (
    "SELECT count(*), extract(epoch FROM now() - min(recorded_at))::float8 FROM events"
    " WHERE org_id = %s AND position > %s"
)
_ORG_AFTER = (
    "SELECT EXISTS (SELECT FROM events WHERE org_id = %s AND position > %s AND position <= %s)"
)


def org_integrity(conn: Connection[Any], report: IntegrityReport, org_id: str) -> dict[str, Any]:
    """`report` (a whole-store check) as `org_id`'s admins may see it.

    Keys: ``scope`` (``org``), ``ok``, ``checked`` (the org's events before the first break,
    all of them up to ``head`` when ok), ``head`` (the org's newest event checked, 0 without
    any), ``first_broken_position`` and ``reason`` (the break's own when it is at one of the
    org's events; otherwise no position and a reason that names no other org's event),
    ``head_hash`` (always None here), and ``unsealed`` and ``seal_lag_seconds``: the org's
    events above the checked head (not covered by the chain yet) and the age of the oldest.
    """
    intact_up_to = report.head
    if report.first_broken_position is not None:
        intact_up_to = report.first_broken_position - 1
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_COUNTS, (org_id, intact_up_to)).fetchone()
        assert row is not None
        checked, head = int(row[0]), int(row[1])
        unsealed = cur.execute(_ORG_UNSEALED, (org_id, report.head)).fetchone()
        assert unsealed is not None
        broken_here = affected = False
        broken = report.first_broken_position
        if broken is not None:
            at = cur.execute(_ORG_AT, (broken,)).fetchone()
            broken_here = at is not None and at[0] == org_id
            after = cur.execute(_ORG_AFTER, (org_id, broken, report.head)).fetchone()
            affected = broken_here or bool(after and after[0])
    reason = report.reason
    if not report.ok and not broken_here:
        reason = (
            "the event store's hash chain is broken at an event of another org, before some of "
            "this org's events: those are not vouched for; the platform operators see where"
            if affected
            else "the event store's hash chain is broken at an event of another org, after "
            "this org's newest event: this org's events are intact"
        )
    return {
        "scope": SCOPE,
        "ok": report.ok,
        "checked": checked,
        "head": head,
        "first_broken_position": report.first_broken_position if broken_here else None,
        "reason": reason,
        "head_hash": None,
        "unsealed": int(unsealed[0]),
        "seal_lag_seconds": unsealed[1],
    }
