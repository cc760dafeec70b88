"""``GET /audit/verify`` and ``bytedash events verify``: is the event store as it was written?

The sealer (projections/chain.py, migration 0009) chains every event to the one before it by
position, in ``event_chain``: ``hash = sha256(prev_hash || event_digest_input(event))``, with
32 zero bytes before the first. This module walks the sealed part of the store in position
order, in windows of positions (so a store of millions is checked in bounded memory, and without
a long-held cursor), and stops at the first place where it breaks, saying why:

* the event's hash no longer matches its content: the event was altered after it was sealed
  (or, when the next link still chains to the hash its content gives, only its hash was);
* its prev_hash is not the previous surviving link's hash: events and their links before it
  were deleted, or a link was slipped in out of chain (then the link after the intruder chains
  past it, and the intruder's position is reported);
* the chain holds a link for a position whose event is gone: the event was deleted;
* an event at or below the sealed head has no link: it was inserted after the chain had been
  sealed past its position.

Events above the sealed head are not yet covered; the report says how many and how old the
oldest is (the seal normally lags by milliseconds). The digest is recomputed by the database
with the same SQL function the sealer uses (``event_digest_input``), so verification and
sealing cannot disagree about the canonical bytes. What a chain alone cannot see is the removal
of the newest events and links together (nothing comes after them to object); for that, keep a
report's (`head`, `head_hash`) and pass it back later as `anchor`: the event at that position
must still exist with that hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from psycopg import Connection
from psycopg.rows import args_row, tuple_row

from projections.chain import seal_status

DEFAULT_BATCH = 10_000
GENESIS = bytes(32)

_HEAD = "SELECT coalesce(max(position), 0) FROM event_chain"
# Every event of the window with its link (if any), and every link whose event is gone.
_WINDOW = (
    "SELECT e.position, c.prev_hash, c.hash,"
    " CASE WHEN c.position IS NOT NULL THEN sha256(c.prev_hash || event_digest_input(e)) END,"
    " true"
    " FROM events e LEFT JOIN event_chain c ON c.position = e.position"
    " WHERE e.position > %(after)s AND e.position <= %(upto)s"
    " UNION ALL"
    " SELECT c.position, c.prev_hash, c.hash, NULL, false FROM event_chain c"
    " WHERE c.position > %(after)s AND c.position <= %(upto)s"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.position = c.position)"
    " ORDER BY 1"
)
_ANCHOR = (
    "SELECT c.hash FROM event_chain c JOIN events e ON e.position = c.position"
    " WHERE c.position = %s"
)


@dataclass(frozen=True)
class IntegrityReport:
    """The outcome of one verification.

    `head` is the last sealed position when verification started (0 for an empty store);
    events sealed during the walk are left for the next run. `checked` counts the events found
    intact before the first break (all of them when `ok`). `head_hash` is the hex hash of the
    head event when `ok`: record it with `head` to detect later removal of the newest events.
    `unsealed` events lie above `head`, not yet covered by the chain; the oldest of them was
    recorded `seal_lag_seconds` ago (None when every event is sealed).
    """

    ok: bool
    checked: int
    head: int
    first_broken_position: int | None
    reason: str | None
    head_hash: str | None = None
    unsealed: int = 0
    seal_lag_seconds: float | None = None


class _Link(NamedTuple):
    position: int
    prev_hash: bytes | None
    hash: bytes | None
    recomputed: bytes | None
    present: bool


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
        broken = _check_presence(link)
        if broken is None:
            broken = _check_prev(link, expected, before_previous, previous)
        if broken is None and link.recomputed != link.hash:
            broken = _check_content(link, next(links, None))
        if broken is not None:
            position, reason = broken
            if position != link.position:
                checked -= 1  # the intruder was counted as intact a row ago
            return IntegrityReport(False, checked, head, position, reason, None, *_unsealed(conn))
        checked += 1
        before_previous, expected, previous = expected, bytes(link.hash or b""), link
    if anchor is not None:
        problem = _check_anchor(conn, anchor)
        if problem is not None:
            return IntegrityReport(False, checked, head, anchor[0], problem, None, *_unsealed(conn))
    head_hash = None if previous is None else expected.hex()
    return IntegrityReport(True, checked, head, None, None, head_hash, *_unsealed(conn))


def _unsealed(conn: Connection[Any]) -> tuple[int, float | None]:
    status = seal_status(conn)
    return status.unsealed, status.lag_seconds


def _links(conn: Connection[Any], head: int, batch: int) -> Iterator[_Link]:
    """The links of positions 1..head, a window of `batch` positions at a time."""
    after = 0
    while after < head:
        upto = min(after + batch, head)
        with conn.cursor(row_factory=args_row(_Link)) as cur:
            cur.execute(_WINDOW, {"after": after, "upto": upto})
            yield from cur.fetchall()
        after = upto


def _check_presence(link: _Link) -> tuple[int, str] | None:
    if not link.present:
        return link.position, (f"event {link.position} was removed: the chain still holds its link")
    if link.hash is None or link.prev_hash is None:
        return link.position, (
            f"event {link.position} is not in the chain: it was inserted after the chain had "
            "been sealed past its position"
        )
    return None


def _check_prev(
    link: _Link, expected: bytes, before_previous: bytes | None, previous: _Link | None
) -> tuple[int, str] | None:
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
