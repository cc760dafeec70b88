"""Verify: a fresh build aside, compared row by row with what the live tables serve."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from projections import Projector, default_projections
from projections.admin import verify_projection
from projections.contacts import STATUS_CHANGED
from tests.integration.projections.eventlog import EventLog, append, append_synthetic
from tests.integration.projections.scenario import onboarding
from tests.integration.projections.support import head, position_of, project_all, running
from tests.integration.replay.support import POISON, PoisonSwitch, poisoned_contacts

Conn = psycopg.Connection[Any]


def test_an_untouched_read_model_verifies_ok_and_nothing_is_left_behind(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    onboarding(log)
    append(database_url, log.take())
    append_synthetic(database_url, 200)
    project_all(database_url, batch_size=7)

    for projection in default_projections():
        report = verify_projection(database_url, projection.name)
        assert report.ok, (projection.name, report)
        assert report.position == head(database_url)
        assert report.compared_rows > 0
        assert (report.missing_count, report.extra_count, report.changed_count) == (0, 0, 0)

    leftovers = conn.execute(
        "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE '%%\\_\\_verify'),"
        " (SELECT count(*) FROM projection_tracking WHERE name LIKE '%%\\_\\_verify')"
    ).fetchone()
    assert leftovers == (0, 0)


def test_rows_changed_behind_the_projectors_back_are_reported_column_by_column(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 100)
    project_all(database_url)
    ids = [row[0] for row in conn.execute("SELECT id FROM contacts ORDER BY id LIMIT 7")]
    conn.execute("UPDATE contacts SET first_name = 'Mallory' WHERE id = ANY(%s)", (ids[:5],))
    conn.execute("UPDATE contacts SET status = 'vip', version = 9 WHERE id = %s", (ids[0],))
    conn.execute("DELETE FROM contacts WHERE id = %s", (ids[5],))
    conn.execute(
        "INSERT INTO contacts (id, org_id, status, created_at, updated_at, version)"
        " VALUES (gen_random_uuid(), 'org_1', 'active', now(), now(), 1)"
    )

    report = verify_projection(database_url, "contacts", max_differences=3)

    assert not report.ok
    assert report.compared_rows == 101
    assert (report.missing_count, report.extra_count, report.changed_count) == (1, 1, 5)
    assert [row.key for row in report.missing] == [{"id": str(ids[5])}]
    assert len(report.extra) == 1
    assert len(report.changed) == 3, "details are capped, counts are not"
    first = report.changed[0]
    assert first.table == "contacts" and first.key == {"id": str(ids[0])}
    assert set(first.columns) == {"first_name", "status", "version"}
    live_name, rebuilt_name = first.columns["first_name"]
    assert live_name == "Mallory" and rebuilt_name.startswith("First")
    assert (first.columns["status"], first.columns["version"]) == (("vip", "active"), (9, 3))


def test_verify_compares_at_one_position_while_the_projector_and_writers_keep_going(
    database_url: str, log: EventLog
) -> None:
    append_synthetic(database_url, 1_000)
    project_all(database_url)
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            log.contact()
            append(database_url, log.take())
            time.sleep(0.002)

    writer = threading.Thread(target=write, daemon=True)
    projector = Projector(database_url, default_projections(), batch_size=20, poll_interval=0.05)
    with running(projector):
        writer.start()
        try:
            report = verify_projection(database_url, "contacts", batch_size=500)
        finally:
            done.set()
            writer.join(timeout=10)
    assert report.ok, report
    assert report.position > 10_000


def test_an_event_todays_handlers_cannot_apply_fails_the_check(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    contact = log.contact()
    log.add(contact, STATUS_CHANGED, old_status="active", new_status=POISON)
    append(database_url, log.take())
    project_all(database_url)  # the live rows were built when the handler still worked
    broken = poisoned_contacts(PoisonSwitch())

    report = verify_projection(database_url, broken)

    assert not report.ok
    assert report.unappliable == [2]
    assert report.changed_count == 1  # and the fresh build lacks what the event did
    assert position_of(database_url, "contacts__verify") is None
