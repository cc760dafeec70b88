"""The runner following the store: NOTIFY wake-ups, errors and retries, reconnects, locks."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from projections import Projector, default_projections, projection_named
from projections.contacts import HANDLERS as CONTACT_EVENTS
from projections.errors import LockNotAcquiredError
from projections.locks import lock_key
from projections.queries import get_contact
from projections.tables import create_copies
from tests.integration.projections import counting
from tests.integration.projections.counting import CountingProjection
from tests.integration.projections.eventlog import EventLog, append
from tests.integration.projections.support import head, position_of, running, scalar, wait_until

Conn = psycopg.Connection[Any]


def test_a_notify_wakes_the_projector_long_before_its_poll_interval(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    projector = Projector(database_url, default_projections(), poll_interval=60)
    with running(projector):
        wait_until(lambda: len(projector.held) == len(default_projections()))
        time.sleep(0.3)  # let it go to sleep on LISTEN
        contact_id = log.contact(first_name="Notified")
        append(database_url, log.take())
        started = time.monotonic()
        wait_until(lambda: get_contact(conn, "org_a", contact_id) is not None, timeout=10)
        assert time.monotonic() - started < 5


def test_a_failing_batch_is_recorded_retried_and_never_skipped(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    counting.create_table(conn)
    flaky = CountingProjection(CONTACT_EVENTS, failures=2)
    log.contact()
    log.contact()
    append(database_url, log.take())

    projector = Projector(database_url, [flaky], retry_backoff=(0.05, 0.2), poll_interval=0.2)
    with running(projector):
        wait_until(lambda: position_of(database_url, "counter") == head(database_url))
    state, last_error, error_count = conn.execute(
        "SELECT state, last_error, error_count FROM projection_tracking WHERE name = 'counter'"
    ).fetchone() or (None, None, None)
    assert (state, error_count) == ("running", 0)
    assert "projection bug (simulated)" in str(last_error)  # kept for the status page
    assert counting.applied_positions(conn) == [1, 2]


def test_an_error_state_is_visible_while_the_projection_keeps_failing(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    counting.create_table(conn)
    broken = CountingProjection(CONTACT_EVENTS, failures=1_000)
    log.contact()
    append(database_url, log.take())

    projector = Projector(database_url, [broken], retry_backoff=(0.05, 0.1), poll_interval=0.2)
    with running(projector):
        wait_until(
            lambda: (
                (
                    scalar(
                        database_url,
                        "SELECT error_count FROM projection_tracking WHERE name = 'counter'",
                    )
                    or 0
                )
                >= 3
            ),
            what="repeated retries",
        )
    row = conn.execute(
        "SELECT state, position, last_error_at IS NOT NULL FROM projection_tracking"
        " WHERE name = 'counter'"
    ).fetchone()
    assert row == ("error", 0, True)
    assert counting.applied_positions(conn) == []


def test_the_projector_reconnects_after_losing_its_connection(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    projector = Projector(
        database_url,
        [projection_named("contacts")],
        poll_interval=0.2,
        retry_backoff=(0.05, 0.2),
        application_name="projector-under-test",
    )
    with running(projector):
        wait_until(lambda: projector.held == {"contacts"})
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'projector-under-test' AND datname = current_database()"
        )
        contact_id = log.contact()
        append(database_url, log.take())
        wait_until(lambda: get_contact(conn, "org_a", contact_id) is not None)
        assert projector.held == {"contacts"}


def test_run_until_caught_up_waits_for_a_lock_held_elsewhere(database_url: str, conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_lock(%s)", (lock_key("contacts"),))
    with Projector(database_url, [projection_named("contacts")], lock_retry_interval=0.05) as p:
        with pytest.raises(LockNotAcquiredError):
            p.run_until_caught_up(lock_timeout=0.3)
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key("contacts"),))
        assert p.run_until_caught_up(lock_timeout=5) == 0
        assert p.held == frozenset(), "locks are released once caught up"


def test_a_suffixed_projection_builds_copies_and_leaves_the_live_tables_alone(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    contacts = projection_named("contacts")
    rebuild = contacts.with_suffix("__rebuild")
    assert rebuild.name == "contacts__rebuild"
    assert dict(rebuild.tables) == {"contacts": "contacts__rebuild"}
    assert dict(contacts.tables) == {"contacts": "contacts"}
    create_copies(conn, contacts.tables, rebuild.tables)

    log.contact()
    append(database_url, log.take())
    with Projector(database_url, [rebuild]) as projector:
        assert projector.run_until_caught_up() == 1
    assert conn.execute("SELECT count(*) FROM contacts__rebuild").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
    assert position_of(database_url, "contacts") is None
    assert position_of(database_url, "contacts__rebuild") == 1


def test_a_projector_refuses_ambiguous_configuration(database_url: str) -> None:
    with pytest.raises(ValueError, match="unique"):
        Projector(database_url, [projection_named("tasks"), projection_named("tasks")])
    with pytest.raises(ValueError, match="at least one"):
        Projector(database_url, [])
    with pytest.raises(KeyError, match="known"):
        projection_named("nope")
