"""Exactly once: crashes before commit, restarts, and two projectors on one projection."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from projections import Projection, Projector, RecordedEvent, default_projections
from projections.batch import project_next_batch
from projections.contacts import HANDLERS as CONTACT_EVENTS
from projections.tasks import HANDLERS as TASK_EVENTS
from tests.integration.projections import counting
from tests.integration.projections.counting import CountingProjection
from tests.integration.projections.eventlog import EventLog, append, append_unknown
from tests.integration.projections.scenario import onboarding
from tests.integration.projections.support import (
    assert_equals_fresh_rebuild,
    head,
    position_of,
    project_all,
    running,
    scalar,
    wait_until,
)

Conn = psycopg.Connection[Any]


class SimulatedCrashError(Exception):
    """Raised by the before-commit hook: the process 'dies' with rows written, not committed."""


def crash_at_batch(n: int) -> Any:
    seen = 0

    def hook(projection: Projection, events: Sequence[RecordedEvent]) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            raise SimulatedCrashError(f"crash before committing batch {n} of {projection.name}")

    return hook


def some_contacts_and_tasks(log: EventLog, count: int) -> None:
    for i in range(count):
        contact_id = log.contact(first_name=f"P{i}")
        log.add(contact_id, "Contact.StatusChanged", old_status="active", new_status="lead")
        log.task(contact_id=str(contact_id))


@pytest.fixture
def counter_table(conn: Conn) -> None:
    counting.create_table(conn)


def test_a_crash_before_commit_leaves_no_rows_and_no_position(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    onboarding(log)
    append(database_url, log.take())

    with (
        Projector(database_url, default_projections(), before_commit=crash_at_batch(1)) as p,
        pytest.raises(SimulatedCrashError),
    ):
        p.run_until_caught_up()

    assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
    tracking = conn.execute(
        "SELECT position, state, last_error, error_count FROM projection_tracking"
        " WHERE name = 'contacts'"
    ).fetchone()
    assert tracking is not None
    position, state, last_error, error_count = tracking
    assert (position, state, error_count) == (0, "error", 1)
    assert "SimulatedCrashError" in last_error

    project_all(database_url)  # the restart
    assert conn.execute(
        "SELECT state, error_count FROM projection_tracking WHERE name = 'contacts'"
    ).fetchone() == ("running", 0)
    assert_equals_fresh_rebuild(database_url)


def test_a_connection_killed_before_commit_rolls_the_batch_back(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    onboarding(log)
    append(database_url, log.take())

    def kill_own_backend(projection: Projection, events: Sequence[RecordedEvent]) -> None:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'doomed-projector' AND datname = current_database()"
        )

    with (
        Projector(
            database_url,
            default_projections(),
            before_commit=kill_own_backend,
            application_name="doomed-projector",
        ) as p,
        pytest.raises(psycopg.OperationalError),
    ):
        p.run_until_caught_up()

    assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
    assert position_of(database_url, "contacts") == 0
    project_all(database_url)
    assert_equals_fresh_rebuild(database_url)


def test_a_restart_resumes_from_the_committed_position_and_applies_each_event_once(
    database_url: str, log: EventLog, conn: Conn, counter_table: None
) -> None:
    some_contacts_and_tasks(log, 20)  # 60 events, 40 of them contact events
    append(database_url, log.take())
    counter = CountingProjection(CONTACT_EVENTS)

    with (
        Projector(
            database_url, [counter], batch_size=7, scan_size=7, before_commit=crash_at_batch(4)
        ) as first,
        pytest.raises(SimulatedCrashError),
    ):
        first.run_until_caught_up()
    committed = counting.applied_positions(conn)
    assert len(committed) > 0
    assert position_of(database_url, "counter") == 21  # three windows of 7 positions

    with Projector(database_url, [counter], batch_size=7, scan_size=7) as second:
        assert second.run_until_caught_up() == 40 - len(committed)

    assert counting.duplicates(conn) == []
    assert len(counting.applied_positions(conn)) == 40
    assert position_of(database_url, "counter") == head(database_url)


def test_two_projectors_racing_apply_each_event_exactly_once(
    database_url: str, log: EventLog, conn: Conn, counter_table: None
) -> None:
    counter = CountingProjection(CONTACT_EVENTS, delay=0.02)
    options: dict[str, Any] = {"batch_size": 5, "lock_retry_interval": 0.1, "poll_interval": 0.2}
    a = Projector(database_url, [counter], **options)
    b = Projector(database_url, [counter], **options)
    with running(a), running(b):
        for _ in range(10):
            some_contacts_and_tasks(log, 3)
            append(database_url, log.take())
        wait_until(lambda: position_of(database_url, "counter") == head(database_url))
        assert len(a.held | b.held) == 1, "exactly one instance holds the projection"
        assert not (a.held & b.held)
    assert counting.duplicates(conn) == []
    assert len(counting.applied_positions(conn)) == 60


def test_the_waiting_projector_takes_over_when_the_first_one_dies(
    database_url: str, log: EventLog, conn: Conn, counter_table: None
) -> None:
    counter = CountingProjection(CONTACT_EVENTS)
    options: dict[str, Any] = {"lock_retry_interval": 0.1, "poll_interval": 0.2}
    first = Projector(database_url, [counter], **options)
    second = Projector(database_url, [counter], **options)
    some_contacts_and_tasks(log, 5)
    append(database_url, log.take())

    first_stop = threading.Event()
    first_thread = threading.Thread(target=first.run_forever, args=(first_stop,), daemon=True)
    first_thread.start()
    wait_until(lambda: first.held == {"counter"})
    with running(second):
        wait_until(lambda: position_of(database_url, "counter") == head(database_url))
        assert second.held == frozenset()

        first_stop.set()  # the first instance goes away, and its session with it
        first_thread.join(timeout=10)
        wait_until(lambda: second.held == {"counter"}, what="takeover")

        some_contacts_and_tasks(log, 5)
        append(database_url, log.take())
        wait_until(lambda: position_of(database_url, "counter") == head(database_url))
    applied_by = conn.execute(
        f"SELECT DISTINCT applied_by FROM {counting.TABLE}".encode()
    ).fetchall()
    assert len(applied_by) == 2, "both instances applied events, one after the other"
    assert counting.duplicates(conn) == []
    assert len(counting.applied_positions(conn)) == 20


def test_concurrent_batches_without_the_advisory_lock_still_apply_each_event_once(
    database_url: str, log: EventLog, conn: Conn, counter_table: None
) -> None:
    """The tracking row's FOR UPDATE alone serialises two writers of one projection."""
    some_contacts_and_tasks(log, 30)
    append(database_url, log.take())
    counter = CountingProjection(CONTACT_EVENTS | TASK_EVENTS, delay=0.01)
    with psycopg.connect(database_url, autocommit=True) as setup:
        setup.execute("INSERT INTO projection_tracking (name) VALUES ('counter')")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                start.wait()
                while project_next_batch(own, counter, batch_size=4, scan_size=4).advanced:
                    pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, name=f"writer-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert counting.duplicates(conn) == []
    assert counting.applied_positions(conn) == list(range(1, 91))
    writers = conn.execute(
        f"SELECT count(DISTINCT applied_by) FROM {counting.TABLE}".encode()
    ).fetchone()
    assert writers == (2,), "both writers took turns (otherwise nothing raced)"


def test_a_long_run_of_irrelevant_events_advances_the_position(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    append_unknown(database_url, 25_000)
    with Projector(database_url, default_projections(), batch_size=100) as projector:
        assert projector.run_until_caught_up() == 0
    assert position_of(database_url, "contacts") == 25_000
    assert position_of(database_url, "definitions") == 25_000

    contact_id = log.contact()
    append(database_url, log.take())
    append_unknown(database_url, 5_000)
    assert project_all(database_url, batch_size=100) == 1
    assert position_of(database_url, "contacts") == head(database_url)
    assert scalar(database_url, "SELECT count(*) FROM contacts WHERE id = %s", (contact_id,)) == 1
    assert_equals_fresh_rebuild(database_url)
