"""Poison events: retried, parked, passed, shown; then retried or skipped by an admin."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from structlog.testing import capture_logs

from projections import Projector
from projections.admin import (
    ParkedEventNotFoundError,
    rebuild_projection,
    reset_projection,
    retry_parked,
    skip_parked,
    verify_projection,
)
from projections.batch import PoisonPolicy, Stepper, may_be_poison
from projections.contacts import FIELDS_UPDATED, STATUS_CHANGED
from projections.queries import get_contact, projection_status
from projections.queries.status import parked_events
from projections.rows import RowProjection
from tests.integration.projections.eventlog import EventLog, append
from tests.integration.projections.support import (
    head,
    position_of,
    project_all,
    running,
    wait_until,
)
from tests.integration.replay.support import (
    POISON,
    Ledger,
    PoisonSwitch,
    poisoned_contacts,
    tracking_row,
)

Conn = psycopg.Connection[Any]
ORG = "org_a"


def poison_story(database_url: str, log: EventLog) -> tuple[UUID, UUID, UUID]:
    """Positions: 1 Ada, 2 Grace, 3 Ada's poison status, 4 Ada's phone, 5 Grace's status, 6 Kat."""
    ada = log.contact(first_name="Ada")
    grace = log.contact(first_name="Grace")
    log.add(ada, STATUS_CHANGED, old_status="active", new_status=POISON)
    log.add(ada, FIELDS_UPDATED, changes={"phone": {"old": None, "new": "+1"}})
    log.add(grace, STATUS_CHANGED, old_status="active", new_status="lead")
    kat = log.contact(first_name="Katherine")
    append(database_url, log.take())
    return ada, grace, kat


def follow_until_caught_up(database_url: str, projection: RowProjection) -> None:
    projector = Projector(
        database_url, [projection], park_after=3, retry_backoff=(0.01, 0.05), poll_interval=0.05
    )
    with running(projector):
        wait_until(lambda: position_of(database_url, "contacts") == head(database_url))


def test_a_poison_event_is_retried_then_parked_and_the_projection_goes_on_past_it(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada, grace, kat = poison_story(database_url, log)
    switch = PoisonSwitch()

    with capture_logs() as logs:
        follow_until_caught_up(database_url, poisoned_contacts(switch))

    (parked,) = parked_events(conn, "contacts")
    assert (parked["position"], parked["event_type"], parked["attempts"]) == (3, STATUS_CHANGED, 3)
    assert parked["status"] == "parked" and "simulated handler bug" in parked["error"]
    assert parked["originator_id"] == ada
    contact = get_contact(conn, ORG, ada)
    assert contact is not None
    assert (contact["status"], contact["phone"], contact["version"]) == ("active", "+1", 3)
    assert (get_contact(conn, ORG, grace) or {})["status"] == "lead", "events after it applied"
    assert get_contact(conn, ORG, kat) is not None

    (status,) = projection_status(conn, "contacts")
    # The projector followed until caught up and stopped: no live process holds it any more
    # (status `stopped`); its own last word and the parked event stay on record.
    assert (status["status"], status["state"], status["parked_events"]) == ("stopped", "running", 1)
    assert "position 3" in status["last_error"] and "after 3 attempts" in status["last_error"]
    assert status["lag_events"] == 0
    parked_logs = [e for e in logs if e["event"] == "projection_event_parked"]
    assert [(e["log_level"], e["position"]) for e in parked_logs] == [("error", 3)]


def test_retrying_a_parked_event_after_the_fix_rebuilds_its_rows_from_every_event(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada, _, _ = poison_story(database_url, log)
    switch = PoisonSwitch()
    projection = poisoned_contacts(switch)
    follow_until_caught_up(database_url, projection)

    still_broken = retry_parked(database_url, projection, 3)
    assert not still_broken.ok and list(still_broken.failed) == [3]
    assert parked_events(conn, "contacts")[0]["attempts"] == 4

    switch.fixed = True
    report = retry_parked(database_url, projection, actor="user:admin")

    assert report.ok and report.retried == [3]
    contact = get_contact(conn, ORG, ada)
    assert contact is not None
    # The old event is applied in its place: the later phone change stays, version is the latest.
    assert (contact["status"], contact["phone"], contact["version"]) == (POISON, "+1", 3)
    (resolved,) = parked_events(conn, "contacts", status=None)
    assert (resolved["status"], resolved["resolved_by"]) == ("retried", "user:admin")
    (status,) = projection_status(conn, "contacts")
    assert (status["status"], status["state"], status["parked_events"]) == ("stopped", "running", 0)
    assert verify_projection(database_url, projection).ok
    with pytest.raises(ParkedEventNotFoundError):
        retry_parked(database_url, projection, 3)


def test_skipping_a_parked_event_is_recorded_and_honoured_by_rebuilds(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada, _, _ = poison_story(database_url, log)
    switch = PoisonSwitch()
    follow_until_caught_up(database_url, poisoned_contacts(switch))

    skip_parked(database_url, "contacts", 3, "sent by a broken import", "user:admin")

    (skipped,) = parked_events(conn, "contacts", status="skipped")
    assert (skipped["position"], skipped["resolved_by"]) == (3, "user:admin")
    assert skipped["resolution"] == "sent by a broken import"
    assert skipped["resolved_at"] is not None
    assert projection_status(conn, "contacts")[0]["parked_events"] == 0
    with pytest.raises(ParkedEventNotFoundError):
        skip_parked(database_url, "contacts", 3, "again", "user:admin")

    switch.fixed = True  # even once the handler could apply it, the skip stands
    assert rebuild_projection(database_url, poisoned_contacts(switch)).done
    assert (get_contact(conn, ORG, ada) or {})["status"] == "active"
    assert verify_projection(database_url, poisoned_contacts(switch)).ok


def test_a_rebuild_parks_what_it_cannot_apply_and_the_live_projection_inherits_it(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada, _, _ = poison_story(database_url, log)
    project_all(database_url)  # built while the handler worked
    switch = PoisonSwitch()

    broken = rebuild_projection(
        database_url, poisoned_contacts(switch), park_after=2, retry_backoff=(0.01, 0.02)
    )

    assert broken.done and broken.parked == 1
    (parked,) = parked_events(conn, "contacts")
    assert (parked["projection"], parked["position"]) == ("contacts", 3)
    assert conn.execute(
        "SELECT count(*) FROM projection_parked_events WHERE projection <> 'contacts'"
    ).fetchone() == (0,)
    assert (get_contact(conn, ORG, ada) or {})["status"] == "active"

    switch.fixed = True
    fixed = rebuild_projection(database_url, poisoned_contacts(switch))
    assert fixed.parked == 0
    (resolved,) = parked_events(conn, "contacts", status=None)
    assert resolved["status"] == "retried"
    assert resolved["resolution"] == f"applied by rebuild #{fixed.rebuild_id}"
    assert (get_contact(conn, ORG, ada) or {})["status"] == POISON


def test_events_parked_beyond_a_reset_position_are_met_again_never_dropped(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    poison_story(database_url, log)
    switch = PoisonSwitch()
    projection = poisoned_contacts(switch)
    follow_until_caught_up(database_url, projection)

    reset_projection(database_url, projection, 2)
    (replayed,) = parked_events(conn, "contacts", status=None)
    assert replayed["status"] == "retried" and "reset to position 2" in replayed["resolution"]

    follow_until_caught_up(database_url, projection)  # still broken: parked again
    (again,) = parked_events(conn, "contacts", status=None)
    assert (again["status"], again["position"]) == ("parked", 3)


def test_errors_that_are_no_events_fault_are_retried_but_never_park_anything(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    poison_story(database_url, log)
    missing_table = Ledger([STATUS_CHANGED])  # its table was never created
    projector = Projector(
        database_url, [missing_table], park_after=1, retry_backoff=(0.01, 0.02), poll_interval=0.05
    )
    with running(projector):
        wait_until(lambda: ((tracking_row(conn, "ledger") or (0, "", 0))[2] or 0) >= 5)
    assert (tracking_row(conn, "ledger") or ())[:2] == (0, "error")
    assert conn.execute("SELECT count(*) FROM projection_parked_events").fetchone() == (0,)


def test_parking_stops_when_nothing_but_failures_come_in_a_row(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada = log.contact()
    for _ in range(4):
        log.add(ada, STATUS_CHANGED, old_status="active", new_status=POISON)
    append(database_url, log.take())
    project = poisoned_contacts(PoisonSwitch())
    conn.execute("INSERT INTO projection_tracking (name) VALUES ('contacts')")
    stepper = Stepper(
        project,
        batch_size=10,
        scan_size=100,
        policy=PoisonPolicy(attempts=1, backoff=(0.0, 0.0), max_parked_in_a_row=2),
    )
    steps = [stepper.step(conn) for _ in range(30)]

    assert sum(1 for step in steps if step.parked is not None) == 2
    assert position_of(database_url, "contacts") == 3, "halted in front of the third failure"
    assert [p["position"] for p in parked_events(conn, "contacts")] == [2, 3]


def test_which_failures_may_be_an_events_fault() -> None:
    assert may_be_poison(ValueError("handler bug"))
    assert may_be_poison(psycopg.errors.NotNullViolation("null in a NOT NULL column"))
    assert may_be_poison(psycopg.errors.InvalidTextRepresentation("bad uuid"))
    assert not may_be_poison(psycopg.OperationalError("connection lost"))
    assert not may_be_poison(psycopg.errors.LockNotAvailable("lock timeout"))
    assert not may_be_poison(psycopg.errors.UndefinedTable("no such table"))
    policy = PoisonPolicy(backoff=(0.5, 3.0))
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
