"""The doorbell wakes LISTENing followers after appends, and keeps doing so after its own
connection is lost (a restart, a failover, an administrator ending sessions)."""

from __future__ import annotations

import time

import psycopg

from application.store.doorbell import CHANNEL, Doorbell

APPLICATION = "bytedash-doorbell-test"


def _listener(database_url: str) -> psycopg.Connection[object]:
    conn: psycopg.Connection[object] = psycopg.connect(database_url, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


def _woken(conn: psycopg.Connection[object], timeout: float = 5.0) -> bool:
    return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))


def _end_doorbell_sessions(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s) AS t",
            (APPLICATION,),
        ).fetchone()
    return int(ended[0]) if ended else 0


def test_a_ring_wakes_a_listener_and_keeps_waking_it_after_the_connection_is_lost(
    database_url: str,
) -> None:
    bell = Doorbell(database_url, application_name=APPLICATION)
    try:
        with _listener(database_url) as listener:
            bell.ring()
            assert _woken(listener), "no NOTIFY reached the listener after a ring"

            assert _end_doorbell_sessions(database_url) == 1
            # The first ring after the loss may meet the dead connection; the doorbell then
            # reconnects and sends it again, so a listener is still woken without another ring.
            bell.ring()
            assert _woken(listener, timeout=10.0), "the doorbell did not recover its connection"

            # Rings in a burst are answered by at least one NOTIFY, not lost.
            for _ in range(50):
                bell.ring()
            assert _woken(listener)
    finally:
        bell.close()


def test_close_stops_the_thread_and_ends_its_session(database_url: str) -> None:
    bell = Doorbell(database_url, application_name=APPLICATION)
    with _listener(database_url) as listener:
        bell.ring()
        assert _woken(listener)
    bell.close()
    deadline = time.monotonic() + 5
    with psycopg.connect(database_url, autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = %s",
                (APPLICATION,),
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the doorbell's session outlived close()")
