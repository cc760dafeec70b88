"""Session-level advisory locks that elect one projector instance per projection.

Session-level (not transaction-level) so the lock outlives each batch's transaction and is held
for as long as the runner's connection lives; when a process dies its connection drops and the
server releases the lock, so a waiting instance takes over without anyone cleaning up.
"""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import Connection

_NAMESPACE = b"bytedash.projection:"


def lock_key(projection_name: str) -> int:
    """A stable signed 64-bit key derived from the projection name."""
    digest = hashlib.blake2b(_NAMESPACE + projection_name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_lock(conn: Connection[Any], projection_name: str) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(projection_name),)).fetchone()
    return bool(row and row[0])


def unlock(conn: Connection[Any], projection_name: str) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(projection_name),))
