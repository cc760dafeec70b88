"""Builds the event store's connection pool, recorder and mapper from a database URL.

One instance is shared by every application service of a process (the composition root builds
it), so they share one pool rather than each opening their own.
"""

from __future__ import annotations

import select
import weakref
from collections.abc import Callable
from time import monotonic
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from application.privacy.keys import ContactKeys
from application.store.doorbell import Doorbell
from application.store.recorder import EventsRecorder
from application.store.transcoder import EventMapper
from domain.personal import DEVELOPMENT_MASTER_KEY

# Seconds a pool keeps retrying one lost connection in the background before it gives up and
# leaves the next request to open one (interfaces/api/app.py uses the same for the API).
RECONNECT_TIMEOUT = 2.0


# A connection lent within this many seconds is lent again unchecked: a Postgres restart takes
# longer than that, and the check is a round trip that a busy writer would pay on every command.
CHECK_IDLE_AFTER = 1.0


def _check_or_drain(pool: ConnectionPool[Any]) -> Callable[[Connection[Any]], None]:
    """pre_ping's check for connections idle for a while, and on a dead connection drop every
    idle one at once: they are all from before the restart. The pool waits (1 s, 2 s, ...)
    between failed checks, so going through eight dead connections one by one outlasted the 5 s
    a command waits for one."""
    ref = weakref.ref(pool)
    lent_at: weakref.WeakKeyDictionary[Connection[Any], float] = weakref.WeakKeyDictionary()

    def check(conn: Connection[Any]) -> None:
        now = monotonic()
        recently = now - lent_at.get(conn, float("-inf")) < CHECK_IDLE_AFTER
        lent_at[conn] = now
        if recently and not conn.closed and not _has_input(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            owner = ref()
            if owner is not None:
                owner.drain()
            raise

    return check


def _has_input(conn: Connection[Any]) -> bool:
    """Whether the server sent something to this idle connection: a restart's goodbye
    (``terminating connection due to administrator command``, then end of file) arrives this
    way. One poll of the socket, no round trip: a restart can take less than CHECK_IDLE_AFTER
    (the embedded server stops and starts in well under a second), which let a connection lent
    just before it go out again unchecked, and dead."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True  # no usable socket: let the full check decide
    return bool(readable)


class EventStoreInfrastructure:
    """`master_key` (BYTEDASH_MASTER_KEY; None: the development key) wraps contacts' data keys,
    `previous_master_key` opens keys still wrapped by the one it replaces during a rotation;
    `sealing=False` stores personal data in clear (the baseline of bench.store only)."""

    def __init__(
        self,
        database_url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        master_key: bytes | None = None,
        previous_master_key: bytes | None = None,
        sealing: bool = True,
    ) -> None:
        params: dict[str, Any] = conninfo_to_dict(database_url)
        self.datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "postgres")),
            host=str(params.get("host", "127.0.0.1")),
            port=str(params.get("port", "5432")),
            user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # Check connections before lending them: after a Postgres restart the pooled ones
            # are dead, and an idle worker's first command burnt an activity attempt on each of
            # them (9 of its 10). The check is one empty query, and only for a connection idle
            # for CHECK_IDLE_AFTER seconds (the pool's check is replaced below).
            pre_ping=True,
        )
        # psycopg_pool retries a lost connection with exponential backoff for up to 5 minutes,
        # so after a long outage the pool waited up to a minute more before trying again. A
        # short give-up makes the next request that finds the pool empty connect at once
        # instead: service is back within a couple of seconds of Postgres.
        self.datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT
        self.datastore.pool._check = _check_or_drain(self.datastore.pool)
        self.doorbell = Doorbell(database_url)
        self.recorder = EventsRecorder(self.datastore, self.doorbell)
        self.contact_keys = ContactKeys(
            self.datastore,
            DEVELOPMENT_MASTER_KEY if master_key is None else master_key,
            previous_master_key=previous_master_key,
        )
        self.mapper = EventMapper(unwrapper=self.contact_keys.unwrapper)
        self.sealing = sealing

    def close(self) -> None:
        self.doorbell.close()
        self.datastore.close()
