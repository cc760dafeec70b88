"""The hash chain: sealed after commit by the sealer (migration 0009), verified in windows, and
broken (as a superuser going around the immutability triggers) in each way an auditor must
notice."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from application.bundle import Services, build_services
from application.services import ContactDraft
from domain.contact import Contact
from migrations import apply_migrations, discover_migrations
from projections.audit import IntegrityReport, verify_chain
from projections.chain import ChainSealer, seal, seal_status
from tests.integration.audit.support import ctx

Conn = psycopg.Connection[Any]


def fill(services: Services, contacts: int = 5, edits: int = 2) -> None:
    """Contacts created one command each, then edited: single- and multi-event saves."""
    for n in range(contacts):
        contact_id = services.contacts.create_contact(ctx(), ContactDraft(first_name=f"C{n}"))
        for e in range(edits):
            # Two events in one save: the chain must link rows inserted by one statement.
            services.contacts.update_contact(
                ctx(), contact_id, {"phone": f"{e}", "status": f"s{e}"}
            )


def tamper(url: str, statement: str, *params: object) -> None:
    """Run `statement` as a superuser with triggers bypassed (session_replication_role)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement.encode(), params)


def positions(conn: Conn) -> list[int]:
    return [r[0] for r in conn.execute("SELECT position FROM events ORDER BY position")]


def sealed(conn: Conn) -> Conn:
    """`conn`, after sealing every event recorded so far (the projector's sealer does it live)."""
    seal(conn)
    return conn


def test_an_empty_store_verifies(conn: Conn) -> None:
    assert verify_chain(conn) == IntegrityReport(True, 0, 0, None, None, None, 0, None)


def test_events_are_covered_once_sealed_and_the_report_says_how_far_the_seal_lags(
    services: Services, conn: Conn
) -> None:
    fill(services, contacts=1)
    before = verify_chain(conn)
    assert before.ok and before.checked == 0 and before.head == 0
    assert before.unsealed == 5 and before.seal_lag_seconds is not None

    assert seal(conn) == 5
    after = verify_chain(conn)
    assert after.ok and after.checked == 5 and after.head == positions(conn)[-1]
    assert after.unsealed == 0 and after.seal_lag_seconds is None
    assert seal(conn) == 0  # sealing twice changes nothing


def test_an_intact_store_of_many_events_verifies_across_batches(
    services: Services, conn: Conn
) -> None:
    at = datetime.now(UTC)
    for b in range(4):  # 4 saves of 500 events, each one INSERT of 500 rows
        contact = Contact.create(
            contact_id=uuid.uuid4(),
            org_id="org_a",
            first_name=f"B{b}",
            last_name=None,
            email=None,
            phone=None,
            at=at,
        )
        for i in range(499):
            contact.update(changes={"phone": str(i)}, at=at)
        services.contacts.save(contact, metadata=ctx().stamped(at))
    fill(services)

    report = verify_chain(sealed(conn), batch=333)

    assert report.ok and report.reason is None and report.first_broken_position is None
    assert report.checked == 2025 == len(positions(conn))
    assert report.head == max(positions(conn))
    head_hash = conn.execute(
        "SELECT hash FROM event_chain ORDER BY position DESC LIMIT 1"
    ).fetchone()
    assert head_hash is not None and report.head_hash == bytes(head_hash[0]).hex()


def test_each_row_chains_to_the_one_before_by_the_documented_digest(
    services: Services, conn: Conn
) -> None:
    fill(services, contacts=2)
    rows = (
        sealed(conn)
        .execute(
            "SELECT c.prev_hash, c.hash, event_digest_input(e)"
            " FROM events e JOIN event_chain c ON c.position = e.position ORDER BY e.position"
        )
        .fetchall()
    )
    assert len(rows) == len(positions(conn))

    expected_prev = bytes(32)
    for prev_hash, digest, canonical in rows:
        assert prev_hash == expected_prev
        assert digest == hashlib.sha256(prev_hash + canonical).digest()
        expected_prev = digest
    # The canonical input is a JSON array that names the row: readable, documented, stable.
    first = conn.execute(
        "SELECT convert_from(event_digest_input(e), 'UTF8')::jsonb, position, data"
        " FROM events e ORDER BY position LIMIT 1"
    ).fetchone()
    assert first is not None
    canonical_json, position, data = first
    assert canonical_json[:2] == [1, position] and canonical_json[8] == data


def test_the_digest_does_not_depend_on_the_session_time_zone(
    services: Services, database_url: str
) -> None:
    fill(services, contacts=1)
    digests = []
    for zone in ("UTC", "Asia/Kolkata"):
        with psycopg.connect(database_url, options=f"-c TimeZone={zone}") as conn:
            digests.append(conn.execute("SELECT event_digest_input(e) FROM events e").fetchall())
    assert digests[0] == digests[1]


def test_a_link_written_ahead_of_the_sealer_is_refused_as_a_duplicate(
    services: Services, conn: Conn
) -> None:
    """A writer cannot choose an event's hash: the sealer writes every link, and a forged one
    written first makes sealing fail loudly rather than adopt it."""
    fill(services, contacts=1)
    first = positions(conn)[0]
    conn.execute(
        "INSERT INTO event_chain (position, prev_hash, hash) VALUES (%s, '\\xdead', '\\xbeef')",
        (first,),
    )
    conn.commit()
    report = verify_chain(conn)
    assert not report.ok and report.first_broken_position == first


def test_an_altered_row_is_named_with_why(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    target = positions(conn)[6]
    tamper(
        database_url,
        "UPDATE events SET data = jsonb_set(data, '{new_status}', '\"hired\"') WHERE position = %s",
        target,
    )

    report = verify_chain(conn, batch=4)

    assert not report.ok
    assert report.first_broken_position == target
    assert report.checked == 6
    assert report.reason is not None and "content was altered" in report.reason


def test_an_altered_metadata_column_is_detected_too(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    target = positions(conn)[3]
    tamper(database_url, "UPDATE events SET actor = 'user:mallory' WHERE position = %s", target)

    report = verify_chain(conn)

    assert report.first_broken_position == target and "altered" in (report.reason or "")


def test_a_modified_hash_column_is_told_apart_from_altered_content(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    target = positions(conn)[4]
    tamper(database_url, "UPDATE event_chain SET hash = sha256(hash) WHERE position = %s", target)

    report = verify_chain(conn)

    assert report.first_broken_position == target
    assert report.reason is not None and "hash column was modified" in report.reason


def test_a_deleted_row_breaks_the_chain_at_the_next_surviving_row(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    all_positions = positions(conn)
    tamper(database_url, "DELETE FROM events WHERE position = %s", all_positions[5])
    tamper(database_url, "DELETE FROM event_chain WHERE position = %s", all_positions[5])

    report = verify_chain(conn, batch=5)  # the break falls on a batch boundary

    assert not report.ok
    assert report.first_broken_position == all_positions[6]
    assert report.checked == 5
    assert report.reason is not None and "removed" in report.reason
    assert str(all_positions[4]) in report.reason  # names the previous surviving event


def test_deleting_the_first_events_is_detected(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    all_positions = positions(conn)
    tamper(database_url, "DELETE FROM events WHERE position <= %s", all_positions[1])
    tamper(database_url, "DELETE FROM event_chain WHERE position <= %s", all_positions[1])

    report = verify_chain(conn)

    assert report.first_broken_position == all_positions[2]
    assert "first event" in (report.reason or "")


def test_a_deleted_event_whose_link_remains_is_named(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    target = positions(conn)[5]
    tamper(database_url, "DELETE FROM events WHERE position = %s", target)

    report = verify_chain(conn)

    assert report.first_broken_position == target and report.checked == 5
    assert "removed" in (report.reason or "")


def _slip_in(services: Services, conn: Conn, database_url: str) -> tuple[int, int]:
    """Leave a gap of positions, seal past it, then insert an event into the gap by hand;
    answer (the intruder's position, the last position)."""
    gap = positions(conn)[-1] + 1000
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT setval('events_position_seq', %s)", (gap,))
        services.contacts.create_contact(ctx(), ContactDraft(first_name="Last"))
        seal(conn)
        last = positions(conn)[-1]
        admin.execute(
            "INSERT INTO events (position, event_id, originator_id, originator_version,"
            " aggregate_type, event_type, topic, data, org_id, occurred_at)"
            " OVERRIDING SYSTEM VALUE"
            " VALUES (%s, gen_random_uuid(), gen_random_uuid(), 1, 'contact', 'Contact.Created',"
            " 'domain.contact:Contact.Created', '{}', 'org_a', now())",
            (last - 1,),
        )
    return last - 1, last


def test_an_event_inserted_below_the_sealed_head_is_named(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    intruder, _ = _slip_in(services, conn, database_url)

    assert seal(conn) == 0  # the sealer never goes back
    report = verify_chain(conn)

    assert not report.ok and report.first_broken_position == intruder
    assert "not in the chain" in (report.reason or "")


def test_an_event_slipped_in_with_a_forged_link_is_named(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    intruder, last = _slip_in(services, conn, database_url)
    # Chain the intruder to its predecessor, as someone who read this module could.
    previous = conn.execute(
        "SELECT hash FROM event_chain WHERE position < %s ORDER BY position DESC LIMIT 1",
        (intruder,),
    ).fetchone()
    assert previous is not None
    tamper(
        database_url,
        "INSERT INTO event_chain (position, prev_hash, hash)"
        " SELECT position, %s, sha256(%s || event_digest_input(e)) FROM events e"
        " WHERE position = %s",
        previous[0],
        previous[0],
        intruder,
    )

    report = verify_chain(conn)

    assert not report.ok and report.first_broken_position == intruder
    assert "inserted out of chain" in (report.reason or "")
    assert str(last) in (report.reason or "")


def test_removing_the_newest_events_is_caught_by_an_anchor_from_an_earlier_report(
    services: Services, conn: Conn, database_url: str
) -> None:
    fill(services)
    seal(conn)
    earlier = verify_chain(conn)
    assert earlier.ok and earlier.head_hash is not None
    anchor = (earlier.head, earlier.head_hash)
    assert verify_chain(conn, anchor=anchor).ok

    tamper(database_url, "DELETE FROM events WHERE position = %s", earlier.head)
    tamper(database_url, "DELETE FROM event_chain WHERE position = %s", earlier.head)

    assert verify_chain(conn).ok  # nothing after the removed tail objects to its absence
    report = verify_chain(conn, anchor=anchor)
    assert not report.ok and report.first_broken_position == earlier.head
    assert "removed" in (report.reason or "")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET actor = NULL",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE event_chain SET hash = sha256(hash)",
        "DELETE FROM event_chain",
        "TRUNCATE event_chain",
    ],
)
def test_the_immutability_triggers_refuse_changes_to_events_and_links(
    services: Services, conn: Conn, statement: str
) -> None:
    fill(services, contacts=1)
    seal(conn)
    with pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute(statement.encode())


def test_migrating_a_store_with_events_backfills_a_chain_that_new_events_extend(
    empty_database_url: str,
) -> None:
    # A store from before the chain (0003), with today's writer: it appends through the
    # events_append_rows function (0015), which only needs the events table and the contacts'
    # keys of their personal data (0013).
    before = [
        m
        for m in discover_migrations()
        if m.version < 3 or m.name in ("contact_keys", "append_rows")
    ]
    apply_migrations(empty_database_url, before)
    services = build_services(empty_database_url)
    try:
        fill(services, contacts=3)
        apply_migrations(empty_database_url)
        fill(services, contacts=2)
    finally:
        services.close()

    with psycopg.connect(empty_database_url) as conn:
        report = verify_chain(sealed(conn))
        assert report.ok and report.checked == 25


def test_upgrading_a_chained_store_keeps_every_event_its_position_and_its_link(
    empty_database_url: str,
) -> None:
    """From the schema before appends went lock-free (0008: chain columns on events, written by
    a trigger) to today's: the same events at the same positions, the same links, still
    verifiable, and new events chained on after them."""
    # (and 0013, 0015: today's writer keeps contacts' keys of their personal data, and appends
    # through events_append_rows)
    before = [
        m
        for m in discover_migrations()
        if m.version <= 8 or m.name in ("contact_keys", "append_rows")
    ]
    apply_migrations(empty_database_url, before)
    services = build_services(empty_database_url)
    try:
        fill(services, contacts=3)
        with psycopg.connect(empty_database_url) as conn:
            old = conn.execute(
                "SELECT position, event_id, data, prev_hash, hash FROM events ORDER BY position"
            ).fetchall()
        apply_migrations(empty_database_url)
        with psycopg.connect(empty_database_url) as conn:
            kept = conn.execute(
                "SELECT e.position, e.event_id, e.data, c.prev_hash, c.hash"
                " FROM events e JOIN event_chain c ON c.position = e.position"
                " ORDER BY e.position"
            ).fetchall()
            assert kept == old and len(old) == 15
            assert verify_chain(conn).checked == 15
        fill(services, contacts=2)
    finally:
        services.close()
    with psycopg.connect(empty_database_url) as conn:
        report = verify_chain(sealed(conn))
        assert report.ok and report.checked == 25


def test_verification_refuses_a_nonsense_batch(conn: Conn) -> None:
    with pytest.raises(ValueError, match="batch"):
        verify_chain(conn, batch=0)


def test_concurrent_writers_and_scripts_still_build_one_chain(
    services: Services, database_url: str, conn: Conn
) -> None:
    """Scripts inserting by hand beside the real writer, sealed as they go: one chain."""
    errors: list[BaseException] = []
    insert = (
        "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
        " event_type, topic, data, org_id, occurred_at)"
        " SELECT gen_random_uuid(), gen_random_uuid(), 1, 'contact', 'Contact.Created', 't',"
        " '{}', 'org_a', now() FROM generate_series(1, 3)"
    )

    def script() -> None:
        try:
            with psycopg.connect(database_url) as own:
                for _ in range(30):
                    with own.transaction():
                        own.execute(insert)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def service() -> None:
        try:
            fill(services, contacts=10, edits=1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    stop = threading.Event()
    sealer = threading.Thread(target=ChainSealer(database_url).run_forever, args=(stop,))
    sealer.start()
    threads = [threading.Thread(target=script) for _ in range(3)]
    threads.append(threading.Thread(target=service))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while seal_status(conn).unsealed and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    sealer.join()

    assert errors == []
    report = verify_chain(conn)
    assert report.ok and report.checked == 3 * 30 * 3 + 10 * 3
