"""``GET /audit/verify`` and ``bytedash events verify``: is the event store as it was written?

Migration 0003 chains every row to the one before it by position:
``hash = sha256(prev_hash || event_digest_input(row))``, with 32 zero bytes before the first
row. This module walks the chain in position order, in keyset batches (so a store of millions
is checked in bounded memory, and without a long-held cursor), and stops at the first row
where it breaks, saying why:

* the row's hash no longer matches its content: the row was altered after it was recorded
  (or, when the next row still chains to the hash its content gives, only its hash was);
* its prev_hash is not the previous surviving row's hash: rows before it were deleted, or a row
  was slipped in out of chain (then the row after the intruder chains past it, and the
  intruder's position is reported);
* its hash columns are empty: it was written around the trigger.

The digest is recomputed by the database with the same SQL function the trigger uses
(``event_digest_input``), so verification and writing cannot disagree about the canonical
bytes. What a chain alone cannot see is the removal of the newest rows (nothing comes after
them to object); for that, keep a report's (`head`, `head_hash`) and pass it back later as
`anchor`: the row at that position must still exist with that hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from psycopg import Connection
from psycopg.rows import args_row, tuple_row

DEFAULT_BATCH = 10_000
GENESIS = bytes(32)

_HEAD = "SELECT coalesce(max(position), 0) FROM events"
_BATCH = (
    "SELECT position, prev_hash, hash,"
    " sha256(coalesce(prev_hash, ''::bytea) || event_digest_input(e)) AS recomputed"
    " FROM events e WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
)
_ANCHOR = "SELECT hash FROM events WHERE position = %s"


@dataclass(frozen=True)
class IntegrityReport:
    """The outcome of one verification.

    `head` is the last position that existed when verification started (0 for an empty store);
    rows appended during the walk are left for the next run. `checked` counts the rows found
    intact before the first break (all of them when `ok`). `head_hash` is the hex hash of the
    head row when `ok`: record it with `head` to detect later removal of the newest events.
    """

    ok: bool
    checked: int
    head: int
    first_broken_position: int | None
    reason: str | None
    head_hash: str | None = None


class _Link(NamedTuple):
    position: int
    prev_hash: bytes | None
    hash: bytes | None
    recomputed: bytes


def verify_chain(
    conn: Connection[Any],
    *,
    batch: int = DEFAULT_BATCH,
    anchor: tuple[int, str] | None = None,
) -> IntegrityReport:
    """Recompute the hash chain over every event, in position order; report the first break.

    `anchor` is a (`head`, `head_hash`) pair from an earlier ok report.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    # Tuple rows whatever the caller's connection returns (the API's pool gives dicts).
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_HEAD).fetchone()
    head = int(row[0]) if row else 0
    checked = 0
    expected = GENESIS  # what the next row's prev_hash must be
    before_previous: bytes | None = None  # the hash before that, to recognise an intruder
    previous: _Link | None = None
    links = _links(conn, head, batch)
    for link in links:
        broken = _check_prev(link, expected, before_previous, previous)
        if broken is None and link.recomputed != link.hash:
            broken = _check_content(link, next(links, None))
        if broken is not None:
            position, reason = broken
            if position != link.position:
                checked -= 1  # the intruder was counted as intact a row ago
            return IntegrityReport(False, checked, head, position, reason)
        checked += 1
        before_previous, expected, previous = expected, bytes(link.hash or b""), link
    if anchor is not None:
        problem = _check_anchor(conn, anchor)
        if problem is not None:
            return IntegrityReport(False, checked, head, anchor[0], problem)
    head_hash = None if previous is None else expected.hex()
    return IntegrityReport(True, checked, head, None, None, head_hash)


def _links(conn: Connection[Any], head: int, batch: int) -> Iterator[_Link]:
    after = 0
    while True:
        with conn.cursor(row_factory=args_row(_Link)) as cur:
            cur.execute(_BATCH, (after, head, batch))
            rows = cur.fetchall()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].position


def _check_prev(
    link: _Link, expected: bytes, before_previous: bytes | None, previous: _Link | None
) -> tuple[int, str] | None:
    if link.hash is None or link.prev_hash is None:
        return link.position, (
            f"event {link.position} has no hash: it was written around the chain trigger"
        )
    if link.prev_hash == expected:
        return None
    if previous is None:
        return link.position, (
            f"event {link.position} is the first event but does not start the chain: "
            "the events before it were removed"
        )
    if before_previous is not None and link.prev_hash == before_previous:
        return previous.position, (
            f"event {previous.position} was inserted out of chain: the next event "
            f"({link.position}) chains to the event before it"
        )
    return link.position, (
        f"event {link.position} does not chain to the previous event ({previous.position}): "
        f"events between them were removed, or event {previous.position} was altered and "
        "re-hashed"
    )


def _check_content(link: _Link, following: _Link | None) -> tuple[int, str]:
    if following is not None and following.prev_hash == link.recomputed:
        return link.position, (
            f"event {link.position}'s hash column was modified: its content still matches "
            "what the next event chains to"
        )
    return link.position, (
        f"event {link.position} does not match its hash: its content was altered after it "
        "was recorded"
    )


def _check_anchor(conn: Connection[Any], anchor: tuple[int, str]) -> str | None:
    position, digest = anchor
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_ANCHOR, (position,)).fetchone()
    if row is None:
        return f"anchored event {position} is gone: the newest events were removed"
    if row[0] is None or bytes(row[0]).hex() != digest.lower():
        return f"anchored event {position} no longer has the anchored hash"
    return None
