"""Rebuilds: no read downtime, exactly once beside a running projector, resumable, swapped whole."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from projections import Projector, default_projections, locks
from projections.admin import (
    OperationInProgressError,
    UnknownProjectionError,
    rebuild_projection,
    verify_projection,
)
from projections.contacts import HANDLERS as CONTACT_EVENTS
from projections.queries import get_contact, get_task, list_contacts, projection_status
from tests.integration.projections.eventlog import EventLog, append, append_synthetic
from tests.integration.projections.support import (
    head,
    position_of,
    project_all,
    running,
    table_rows,
    wait_until,
)
from tests.integration.replay.support import (
    Ledger,
    create_ledger,
    ledger_positions,
    positions_of,
    stop_when,
    table_oid,
)

Conn = psycopg.Connection[Any]


def test_readers_see_the_whole_read_model_throughout_a_rebuild_and_its_swap(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 5_000)  # 50,000 events: 5,000 contacts, each now active
    project_all(database_url)
    old_table = table_oid(conn, "contacts")
    seen: list[tuple[int, int, int, bool]] = []  # table oid, count, page size, page all final
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        with psycopg.connect(database_url, autocommit=True) as reader:
            while not done.is_set():
                try:
                    oid = table_oid(reader, "contacts")
                    count = reader.execute("SELECT count(*) FROM contacts").fetchone()
                    page = list_contacts(reader, "org_3", limit=200)
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
                    return
                final = all(c["status"] == "active" and c["phone"] for c in page.items)
                seen.append((oid, count[0] if count else -1, len(page.items), final))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: len(seen) >= 5, what="first reads")
    report = rebuild_projection(database_url, "contacts", batch_size=1_000)
    swapped_at = len(seen)
    wait_until(lambda: len(seen) >= swapped_at + 5, what="reads after the swap")
    done.set()
    reader.join(timeout=10)

    assert errors == []
    assert report.done and report.position == head(database_url)
    new_table = table_oid(conn, "contacts")
    assert new_table != old_table
    assert {s[0] for s in seen} == {old_table, new_table}, "reads on both sides of the swap"
    assert {s[1] for s in seen} == {5_000}, "never an empty or partial table"
    assert {s[2] for s in seen} == {200}
    assert all(s[3] for s in seen), "every row read was complete (its latest events applied)"
    assert verify_projection(database_url, "contacts").ok


def test_the_live_projector_keeps_following_through_a_rebuild_exactly_once(
    database_url: str, conn: Conn, log: EventLog
) -> None:
    create_ledger(conn)
    types = list(CONTACT_EVENTS)
    append_synthetic(database_url, 2_000)
    projector = Projector(
        database_url, [Ledger(types)], batch_size=50, poll_interval=0.05, lock_retry_interval=0.05
    )
    writing = threading.Event()

    def write() -> None:
        while not writing.is_set():
            log.contact()
            append(database_url, log.take())
            time.sleep(0.005)

    with running(projector):
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            wait_until(lambda: (position_of(database_url, "ledger") or 0) >= 20_000)
            report = rebuild_projection(database_url, Ledger(types), batch_size=500)
            # Events after the swap too (a fast rebuild can end between two appends): the
            # live projector must follow them once each.
            wait_until(lambda: head(database_url) > report.position, what="an append after it")
        finally:
            writing.set()
            writer.join(timeout=10)
        wait_until(lambda: position_of(database_url, "ledger") == head(database_url))

    assert report.done
    assert report.position < head(database_url), "events kept arriving after the swap"
    assert ledger_positions(conn) == positions_of(database_url, types), "each event once"


def test_the_projector_steps_aside_while_an_admin_operation_holds_a_projection(
    database_url: str, conn: Conn, log: EventLog
) -> None:
    projector = Projector(database_url, default_projections(), poll_interval=0.05)
    with psycopg.connect(database_url) as admin, running(projector):
        wait_until(lambda: len(projector.held) == len(default_projections()))
        admin.execute("SELECT 1 FROM projection_tracking WHERE name = 'contacts' FOR UPDATE")
        contact, task = log.contact(), log.task()
        append(database_url, log.take())
        wait_until(lambda: get_task(conn, "org_a", task) is not None, what="other projections")
        time.sleep(0.3)
        assert get_contact(conn, "org_a", contact) is None
        admin.commit()  # the swap (or reset, or retry) is over
        wait_until(lambda: get_contact(conn, "org_a", contact) is not None)
    row = conn.execute(
        "SELECT state, error_count FROM projection_tracking WHERE name = 'contacts'"
    ).fetchone()
    assert row == ("running", 0), "stepping aside is not an error"


def test_a_rebuild_stopped_halfway_resumes_there_and_ends_like_a_clean_one(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 3_000)  # 15,000 execution events among 30,000
    project_all(database_url)
    stop = threading.Event()

    first = rebuild_projection(
        database_url,
        "executions",
        batch_size=500,
        stop=stop,
        progress=stop_when(stop, done_at_least=15_000),
    )
    assert first.outcome == "stopped"
    assert 15_000 <= first.position < 30_000
    assert 0 < first.events_applied < 15_000
    assert conn.execute("SELECT count(*) FROM executions").fetchone() == (3_000,), "live untouched"

    second = rebuild_projection(database_url, "executions", batch_size=500)
    assert second.done and second.resumed_from == first.position
    assert first.events_applied + second.events_applied == 15_000, "nothing applied twice"
    resumed = table_rows(conn, "executions")

    clean = rebuild_projection(database_url, "executions", from_scratch=True)
    assert clean.resumed_from is None and clean.events_applied == 15_000
    assert table_rows(conn, "executions") == resumed
    assert verify_projection(database_url, "executions").ok


def test_a_rebuild_whose_connection_died_resumes_from_its_last_commit(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 2_000)
    project_all(database_url)

    def kill_halfway(done: int, total: int, rate: float, eta: float | None) -> None:
        if done >= total // 2:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'bytedash-rebuild' AND datname = current_database()"
            )

    with pytest.raises(psycopg.OperationalError):
        rebuild_projection(database_url, "tasks", batch_size=300, progress=kill_halfway)
    phase, finished = conn.execute(
        "SELECT phase, finished_at FROM projection_rebuilds WHERE name = 'tasks'"
    ).fetchone() or (None, None)
    assert (phase, finished) == ("failed", None), "failed, and resumable"
    committed = position_of(database_url, "tasks__rebuild")
    assert committed is not None and committed >= 10_000

    report = rebuild_projection(database_url, "tasks")
    assert report.done and report.resumed_from == committed
    assert verify_projection(database_url, "tasks").ok
    assert position_of(database_url, "tasks__rebuild") is None, "no leftovers"


def test_a_rebuild_starts_over_when_the_live_table_changed_shape_meanwhile(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 500)
    project_all(database_url)
    stop = threading.Event()
    rebuild_projection(
        database_url,
        "contacts",
        batch_size=100,
        stop=stop,
        progress=stop_when(stop, done_at_least=1),
    )
    conn.execute("ALTER TABLE contacts ADD COLUMN nickname text")  # a migration in between

    report = rebuild_projection(database_url, "contacts")
    assert report.resumed_from is None
    columns = conn.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts'"
        " AND column_name = 'nickname'"
    ).fetchone()
    assert columns == (1,)


def test_the_swapped_in_tables_keep_the_live_names_of_indexes_and_the_grants(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 300)
    project_all(database_url)
    role = f"replay_reader_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE ROLE {role}".encode())
    try:
        conn.execute(f"GRANT SELECT ON tasks TO {role}".encode())
        indexes_before = _indexes(conn, "tasks")

        assert rebuild_projection(database_url, "tasks").done

        assert _indexes(conn, "tasks") == indexes_before
        granted = conn.execute(
            "SELECT has_table_privilege(%s, 'tasks', 'SELECT')", (role,)
        ).fetchone()
        assert granted == (True,)
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'tasks%%rebuild%%'"
        ).fetchone()
        assert leftovers == (0,)
    finally:
        conn.execute(f"REVOKE ALL ON tasks FROM {role}".encode())
        conn.execute(f"DROP ROLE {role}".encode())


def test_a_swap_never_waits_long_behind_a_reader_it_retries_instead(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 200)
    project_all(database_url)
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT count(*) FROM contacts")  # a long read: its lock lasts until commit
        release = threading.Timer(1.0, holder.commit)
        release.start()
        with capture_logs() as logs:
            report = rebuild_projection(database_url, "contacts", swap_lock_timeout=0.2)
        release.join()
    assert report.done
    retries = [e for e in logs if e["event"] == "rebuild_swap_retry"]
    assert retries and "LockNotAvailable" in retries[0]["reason"]
    assert verify_projection(database_url, "contacts").ok


def test_one_rebuild_per_projection_at_a_time_and_unknown_names_are_refused(
    database_url: str, conn: Conn
) -> None:
    assert locks.try_lock(conn, "contacts__rebuild")  # as another process's rebuild holds it
    with pytest.raises(OperationInProgressError):
        rebuild_projection(database_url, "contacts")
    locks.unlock(conn, "contacts__rebuild")
    with pytest.raises(UnknownProjectionError):
        rebuild_projection(database_url, "nope")


def test_a_rebuild_of_a_projection_that_never_ran_creates_it_at_the_head(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 100)
    report = rebuild_projection(database_url, "definitions")
    assert report.done and report.position == head(database_url)
    (status,) = projection_status(conn, "definitions")
    assert status["position"] == head(database_url)


def _indexes(conn: Conn, table: str) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT indexname, regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes"
        " WHERE tablename = %s",
        (table,),
    ).fetchall()
    return {(str(name), str(definition)) for name, definition in rows}
