"""A projector reading a store whose ``events`` table was never analyzed gives it statistics
first, so its catch-up reads walk each window in position order instead of reading, joining and
sorting every event of the window (projections/statistics.py).

The server these tests run on may have autovacuum on or off: each test turns it off for this
database's `events` table, so that only the code under test can analyze it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

import projections.statistics as statistics
from projections import Projector, default_projections, projection_named
from projections.admin import rebuild_projection
from projections.events import _READ
from projections.statistics import ensure_event_statistics
from tests.integration.projections.eventlog import append_synthetic

Conn = psycopg.Connection[Any]


@pytest.fixture(autouse=True)
def _no_autovacuum_of_events(conn: Conn) -> None:
    conn.execute("ALTER TABLE events SET (autovacuum_enabled = false)")


def _counted(conn: Conn, events: int) -> None:
    """Until the server's activity statistics show the appended events (sessions report them
    when they end, within about a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'events'"
        ).fetchone()
        if row is not None and int(row[0]) >= events:
            return
        time.sleep(0.1)
    raise AssertionError("the appends never showed in pg_stat_user_tables")


def _analyzed(conn: Conn) -> bool:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT coalesce(last_analyze, last_autoanalyze) IS NOT NULL"
        " FROM pg_stat_user_tables WHERE relname = 'events'"
    ).fetchone()
    return bool(row and row[0])


def _plan_nodes(conn: Conn) -> list[str]:
    types = sorted(projection_named("executions").event_types)
    plan = conn.execute(
        ("EXPLAIN (FORMAT JSON) " + _READ).encode(), (0, 1_000_000, types, 2000)
    ).fetchone()
    assert plan is not None
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node["Node Type"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0][0]["Plan"])
    return nodes


def test_a_projector_gives_a_never_analyzed_store_statistics_before_catching_up(
    database_url: str, conn: Conn
) -> None:
    events = append_synthetic(database_url, 1_500)  # 15,000 events: more than STALE_MIN
    _counted(conn, events)

    with Projector(database_url, default_projections()) as projector:
        projector.run_until_caught_up()

    assert _analyzed(conn)
    nodes = _plan_nodes(conn)
    assert "Sort" not in nodes, nodes  # the window is read in position order, up to the limit
    assert "Bitmap Heap Scan" not in nodes, nodes
    assert ensure_event_statistics(conn) is False  # fresh now: nothing more to do


def test_a_rebuild_gives_a_never_analyzed_store_statistics_before_its_replay(
    database_url: str, conn: Conn
) -> None:
    events = append_synthetic(database_url, 1_100)
    _counted(conn, events)

    assert rebuild_projection(database_url, "tasks").done

    assert _analyzed(conn)


def test_a_role_that_may_not_analyze_the_table_is_told_once_and_the_reads_go_on(
    database_url: str, conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = append_synthetic(database_url, 1_100)
    _counted(conn, events)
    role = f"stats_reader_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE ROLE {role} LOGIN".encode())
    monkeypatch.setattr(statistics, "_warned", False)
    try:
        as_role = psycopg.conninfo.make_conninfo(database_url, user=role)
        with psycopg.connect(as_role, autocommit=True) as other, capture_logs() as logs:
            assert ensure_event_statistics(other) is False
            assert ensure_event_statistics(other) is False
        warnings = [e for e in logs if e["event"] == "events_statistics_stale"]
        assert len(warnings) == 1
        assert "ANALYZE events" in warnings[0]["hint"]
        assert warnings[0]["changed_since_analyze"] >= events
        assert not _analyzed(conn)
    finally:
        conn.execute(f"DROP ROLE {role}".encode())


def test_the_operator_hears_once_when_the_server_runs_without_autovacuum(
    conn: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statistics, "_told_autovacuum", False)
    setting = conn.execute("SELECT current_setting('autovacuum')").fetchone()
    assert setting is not None

    with capture_logs() as logs:
        ensure_event_statistics(conn)
        ensure_event_statistics(conn)

    told = [e for e in logs if e["event"] == "autovacuum_off"]
    assert len(told) == (1 if setting[0] == "off" else 0)  # this server's setting decides
    for entry in told:
        assert "VACUUM ANALYZE" in entry["hint"]
