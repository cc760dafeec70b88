"""The eventsourcing library's own recorder contract, run against our ``EventsRecorder``.

``EventsRecorder`` subclasses the library's ``PostgresApplicationRecorder`` and overrides how an
append and a read are done; the library's processing (``Application``, ``ProcessApplication``,
the projection runner, subscriptions) still relies on everything the library promises of an
application recorder. So its test cases run here, on a freshly migrated database of each test's
own, against our real table, and only where our table deliberately differs is the call adapted
(``ContractRecorder`` below, each adaptation saying why).

What runs:

* ``eventsourcing.tests.persistence.ApplicationRecorderTestCase`` whole: ``test_insert_select``,
  ``test_performance``, ``test_concurrent_no_conflicts``, ``test_concurrent_throughput``, and its
  ``optional_test_insert_subscribe`` as ``test_insert_subscribe`` (the library's Postgres suite
  runs it that way, with a pool of two: one connection LISTENs, one reads).
* ``eventsourcing.tests.persistence.NonInterleavingNotificationIDsBaseCase``: two concurrent
  saves of 1000 events each get two unbroken runs of positions. Its race is left to chance, so
  it is skipped: since migration 0009 saves may interleave, on purpose (below).
* The cases of the library's Postgres suite (its repository's ``tests/persistence_tests/
  test_postgres.py``, which the installed package does not ship) that concern an application
  recorder, written again here because they cannot be imported: a call after the server ended
  every session (``test_retry_*_after_closing_connection``), a subscription that reads while
  another thread writes, and the ``ProgrammingError`` of a recorder whose table is missing (for
  us: a database that was never migrated).
* One case more for each recorder method: the connection is lost after the pool lent it, so
  that the pool's pre_ping cannot hide it and only the method's own retry (the library's
  ``@retry``) gets the call through (``test_*_survives_a_connection_lost_after_it_was_lent``).

What does not run, and why:

* ``AggregateRecorderTestCase``: it is for recorders whose ``insert_events`` returns ``None``;
  ours is an application recorder (the library does not run it against its own either).
* The library's ``test_insert_lock_timeout_actually_works`` and
  ``test_fetch_ids_after_insert_events``: they drive the library's client-side append
  (``_insert_stored_events`` taking ``LOCK TABLE`` with the datastore's ``lock_timeout``, and
  ``insert_events_statement``), which our recorder does not use: an append is one call of the
  ``events_append`` database function, and takes no table lock (migrations 0008, 0009).
* ``TrackingRecorderTestCase`` and ``ProcessRecorderTestCase``: our recorder records events only;
  projections keep their own tracking tables.

One property of the library is deliberately not kept: a save's positions need not be one
unbroken run while another save appends at the same time (no table lock); see
``test_a_save_held_up_midway_lets_another_through`` and docs/event-store.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from unittest import TestCase
from uuid import UUID

import eventsourcing.tests.persistence as library_cases
import psycopg
import pytest
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    Notification,
    ProgrammingError,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import PostgresDatastore

from application.metadata import CommandContext, EventMetadata
from application.store import EventsRecorder, EventStoreInfrastructure
from application.store.recorder import EVENTS_CHANNEL
from migrations import apply_migrations

CONTRACT_ORG = "org_library_contract"
LIBRARY_RACE_BY_CHANCE = (
    "A deliberate difference (docs/event-store.md, 'Positions of one save'): without the table "
    "lock, a save's positions may interleave with a concurrent save's; the library's case asks "
    "for one unbroken run per save. test_a_save_held_up_midway_lets_another_through states "
    "what holds instead."
)


def encode_opaque_state(state: bytes) -> bytes:
    """The library's opaque state bytes as a JSON document (a string holding them in base64)."""
    return json.dumps(base64.b64encode(state).decode("ascii")).encode()


def decode_opaque_state(data: bytes) -> bytes:
    """Inverse of ``encode_opaque_state``; anything else in the column is a failed round trip."""
    not_ours = f"events.data holds {data!r}, not the JSON the contract wrote"
    text = json.loads(data)
    if not isinstance(text, str):
        raise AssertionError(not_ours)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise AssertionError(not_ours) from exc


class ContractRecorder(EventsRecorder):
    """``EventsRecorder`` called the way the library's test cases call a recorder.

    Two adaptations, both where our ``events`` table deliberately differs from the library's:

    1. Metadata. Every event row names its org, actor and cause in columns (``org_id`` is NOT
       NULL), so ``EventsRecorder.insert_events`` refuses a save without
       ``metadata=EventMetadata(...)``; the library's cases pass none. Each call gets a context
       of a fresh command, because each call of the library's cases is a separate save: event
       ids derive from the command id, and one command id reused across saves would make the
       second save collide as a retried command (our idempotency guarantee), which is not what
       the library's cases mean by a second save.
    2. JSON state. ``events.data`` is ``jsonb`` so that SQL, the audit views and the hash chain
       can read events; in production the mapper (``domain.codec``) always hands the recorder
       JSON. The library's cases write opaque bytes such as ``b"state1"``, which are not JSON,
       so they are stored as a JSON string holding the bytes in base64 and decoded on the way
       back, every byte preserved.

    Nothing else is overridden: appends, reads, retries, positions and notifications are
    ``EventsRecorder``'s own. In particular no method here retries, so the retry cases test the
    recorder's retry and nothing of this wrapper.
    """

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        metadata = kwargs.pop("metadata", None) or EventMetadata(
            context=CommandContext(org_id=CONTRACT_ORG, command_id=f"contract-{uuid.uuid4()}"),
            occurred_at=datetime.now(UTC),
        )
        as_json = [replace(e, state=encode_opaque_state(e.state)) for e in stored_events]
        return super().insert_events(as_json, metadata=metadata, **kwargs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        rows = super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return [replace(e, state=decode_opaque_state(e.state)) for e in rows]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        rows = super().select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        return [replace(n, state=decode_opaque_state(n.state)) for n in rows]


def terminate_sessions(database_url: str, pid: int | None = None) -> int:
    """What the issue saw: the server terminates sessions on this test's database (one backend,
    or every one but the caller's), as a restart, a failover or an administrator does.

    Only this test's own database (each test has one), so no other test's connections are
    touched. Waits until the backends are gone, so that the recorder's next statement meets a
    dead connection rather than racing the termination.
    """
    which = "datname = current_database() AND pid <> pg_backend_pid()"
    if pid is not None:
        which += f" AND pid = {int(pid)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The backends ended, by pid: a process that reconnects at once (a LISTEN thread) opens
        # a new session on the database meanwhile, which is not one of them.
        query = f"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE {which}"
        pids = [int(pid) for pid, ended in conn.execute(query.encode()).fetchall() if ended]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if left is not None and left[0] == 0:
                return len(pids)
            time.sleep(0.02)
    raise AssertionError("the server did not end the recorder's sessions within 10 s")


class OnMigratedDatabase(TestCase):
    """A fresh database with every migration applied, and the product's own datastore on it.

    The datastore is built by ``EventStoreInfrastructure`` as the services build it (pre_ping
    and all), with a pool of one connection as in the library's Postgres suite: the retry cases
    then know that the one pooled connection is the dropped one.
    """

    database_url: str
    infrastructure: EventStoreInfrastructure
    datastore: PostgresDatastore
    dropped_one: bool

    @pytest.fixture(autouse=True)
    def _migrated_database(self, database_url: str) -> Iterator[None]:
        self.database_url = database_url
        self.infrastructure = EventStoreInfrastructure(database_url, pool_size=1, max_overflow=0)
        self.datastore = self.infrastructure.datastore
        yield
        self.infrastructure.close()

    def create_recorder(self) -> ContractRecorder:
        """Built from the infrastructure's own parts, as ``EventStoreInfrastructure`` builds
        the services' recorder (its doorbell sends the NOTIFY that wakes subscriptions)."""
        return ContractRecorder(self.datastore, self.infrastructure.doorbell)

    @contextmanager
    def hang_breaker(self, seconds: float) -> Iterator[None]:
        """A subscription waits for a NOTIFY as long as none comes. Rather than hang the run,
        end this database's sessions after ``seconds``: the subscription's LISTEN thread fails,
        the subscription stops and raises, and the case fails saying why."""
        fired = threading.Event()

        def fire() -> None:
            fired.set()
            terminate_sessions(self.database_url)

        timer = threading.Timer(seconds, fire)
        timer.start()
        try:
            yield
        except BaseException as exc:
            if fired.is_set():
                raise AssertionError(
                    f"no event reached the subscription for {seconds} s (no NOTIFY?)"
                ) from exc
            raise
        finally:
            timer.cancel()
            timer.join()

    def resize_pool(self, size: int) -> None:
        """As the library's Postgres suite does for its cases that need several connections."""
        self.datastore.pool.open()
        self.datastore.pool.resize(size, size)

    def wait_until_listening(self) -> None:
        """Until a session of this test's database has run ``LISTEN "events"``."""
        deadline = time.monotonic() + 10
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                found = conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query = %s",
                    (f'LISTEN "{EVENTS_CHANNEL}"',),
                ).fetchone()
                if found:
                    return
                time.sleep(0.01)
        raise AssertionError("the subscription did not LISTEN within 10 s")

    def one_event(self, recorder: ContractRecorder) -> StoredEvent:
        stored = StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")
        self.assertEqual(recorder.insert_events([stored]), [1])
        return stored

    def drop_the_next_lent_connection(self) -> None:
        """The server ends the next connection the pool lends, just after the pool's own check
        passed: the recorder gets a connection that was alive when lent and is dead when used.

        Done in the pool's check hook (where pre_ping runs), once, by a real
        ``pg_terminate_backend`` of that connection's backend; ``dropped_one`` says it happened.
        """
        pool = self.datastore.pool
        pool_check = pool._check
        self.dropped_one = False

        def check_then_drop(conn: psycopg.Connection[Any]) -> None:
            if pool_check is not None:
                pool_check(conn)
            pool._check = pool_check
            self.assertEqual(terminate_sessions(self.database_url, conn.info.backend_pid), 1)
            self.dropped_one = True

        pool._check = check_then_drop


class TestEventsRecorderContract(
    OnMigratedDatabase, library_cases.ApplicationRecorderTestCase[ContractRecorder]
):
    """``ApplicationRecorderTestCase`` against ``EventsRecorder``, plus the library's Postgres
    cases for an application recorder."""

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        # Ten writers and two readers: a pool big enough that none waits for a connection.
        self.resize_pool(12)
        super().test_concurrent_no_conflicts(initial_position)

    def test_concurrent_throughput(self) -> None:
        self.resize_pool(10)
        super().test_concurrent_throughput()

    def test_insert_subscribe(self) -> None:
        # A subscription holds one connection to LISTEN while another reads.
        self.resize_pool(2)
        with self.hang_breaker(30):
            self.optional_test_insert_subscribe()

    def test_subscription_reads_every_event_while_another_thread_writes(self) -> None:
        """The library's ``test_subscribe_concurrent_reading_and_writing``, in our own words: a
        subscriber woken by our NOTIFY receives every event, once, in position order."""
        self.resize_pool(3)
        recorder = self.create_recorder()
        batches, batch_size = 20, 50
        total = batches * batch_size

        def write() -> list[int]:
            positions: list[int] = []
            for _ in range(batches):
                saved = recorder.insert_events(
                    [
                        StoredEvent(uuid.uuid4(), self.INITIAL_VERSION, "topic1", b"state1")
                        for _ in range(batch_size)
                    ]
                )
                positions.extend(saved or [])
            return positions

        seen: list[int] = []

        def read(subscription: Subscription[Any]) -> None:
            for notification in subscription:
                self.assertEqual(notification.state, b"state1")
                seen.append(notification.id)
                if len(seen) == total:
                    return

        with recorder.subscribe(gt=recorder.max_notification_id()) as subscription:
            # The library's subscription pulls once, then LISTENs in another thread: what
            # commits in between waits for the next NOTIFY. Writing starts once it listens.
            self.wait_until_listening()
            with ThreadPoolExecutor(max_workers=2) as pool:
                reading = pool.submit(read, subscription)
                written = pool.submit(write).result(timeout=60)
                try:
                    reading.result(timeout=30)
                except FutureTimeout:
                    subscription.stop()
                    raise AssertionError(
                        f"the subscriber received {len(seen)} of {total} events in 30 s"
                    ) from None
        self.assertEqual(seen, written)
        self.assertEqual(len(set(written)), total)

    # The library's retry cases, as its Postgres suite writes them: every session is ended
    # while the pool holds its one idle connection, and the next call must still answer. Our
    # pool checks a connection before lending it (pre_ping, application/store/infrastructure.py)
    # so it replaces that dead one before the recorder sees it.

    def _one_event_then_drop_connections(self, recorder: ContractRecorder) -> StoredEvent:
        stored = StoredEvent(uuid.uuid4(), self.INITIAL_VERSION, "topic1", b"state1")
        recorder.insert_events([stored])
        self.assertEqual(len(self.datastore.pool._pool), 1)
        self.assertGreaterEqual(terminate_sessions(self.database_url), 1)
        return stored

    def test_retry_select_notifications_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        stored = self._one_event_then_drop_connections(recorder)

        notifications = recorder.select_notifications(start=1, limit=1)

        self.assertEqual(
            [(n.id, n.originator_id) for n in notifications], [(1, stored.originator_id)]
        )

    def test_retry_max_notification_id_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        self._one_event_then_drop_connections(recorder)

        self.assertEqual(recorder.max_notification_id(), 1)

    # The same drop where no check before lending can see it: the connection dies after the
    # pool lent it and before the recorder's statement runs (a restart or failover at that
    # moment, or one in the middle of a statement). Only the recorder's own retry (the
    # library's ``@retry`` on each method) gets the call through, on a new connection.

    def test_select_notifications_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        stored = self.one_event(recorder)
        self.drop_the_next_lent_connection()

        notifications = recorder.select_notifications(start=1, limit=1)

        self.assertEqual(
            [(n.id, n.originator_id) for n in notifications], [(1, stored.originator_id)]
        )
        self.assertTrue(self.dropped_one)

    def test_max_notification_id_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        self.one_event(recorder)
        self.drop_the_next_lent_connection()

        self.assertEqual(recorder.max_notification_id(), 1)
        self.assertTrue(self.dropped_one)

    def test_select_events_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        stored = self.one_event(recorder)
        self.drop_the_next_lent_connection()

        self.assertEqual(recorder.select_events(stored.originator_id), [stored])
        self.assertTrue(self.dropped_one)

    def test_insert_events_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        first = self.one_event(recorder)
        second = replace(first, originator_version=first.originator_version + 1)
        self.drop_the_next_lent_connection()

        self.assertEqual(recorder.insert_events([second]), [2])
        self.assertTrue(self.dropped_one)
        self.assertEqual(recorder.select_events(first.originator_id), [first, second])


class TestEventsRecorderOwnReadsRetry(OnMigratedDatabase):
    """Our recorder's own reads, which the library does not have: the idempotency look-ups that
    every command makes before it appends. The library's reason to retry its reads applies to
    them as well (they change nothing, so a second attempt is always safe)."""

    def _one_command(self, recorder: ContractRecorder) -> StoredEvent:
        stored = StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")
        context = CommandContext(org_id=CONTRACT_ORG, command_id="command-1")
        recorder.insert_events([stored], metadata=context.stamped(datetime.now(UTC)))
        return stored

    def test_command_outcome_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        stored = self._one_command(recorder)
        self.drop_the_next_lent_connection()

        self.assertEqual(recorder.command_outcome("command-1"), stored.originator_id)
        self.assertTrue(self.dropped_one)

    def test_command_position_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        self._one_command(recorder)
        self.drop_the_next_lent_connection()

        self.assertEqual(recorder.command_position("command-1"), 1)
        self.assertTrue(self.dropped_one)


class TestEventsRecorderAppendThroughLibpq(OnMigratedDatabase):
    """The append goes through libpq directly (application/store/append.py), beside psycopg's
    cursor: what the cursor gave it must hold still."""

    def test_an_append_survives_a_connection_lost_after_it_was_lent(self) -> None:
        recorder = self.create_recorder()
        self.drop_the_next_lent_connection()

        stored = self.one_event(recorder)

        self.assertTrue(self.dropped_one)
        self.assertEqual(
            [e.originator_version for e in recorder.select_events(stored.originator_id)], [1]
        )

    def test_a_session_that_lost_the_prepared_append_prepares_it_again(self) -> None:
        recorder = self.create_recorder()
        self.resize_pool(1)  # the one session both appends use
        self.one_event(recorder)
        with self.datastore.get_connection() as conn:
            conn.execute("DEALLOCATE ALL")  # as a DISCARD ALL, or a pooler's other session

        second = StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")
        self.assertEqual(recorder.insert_events([second]), [2])

    def test_a_refused_append_raises_the_servers_error_and_leaves_the_session_usable(
        self,
    ) -> None:
        recorder = self.create_recorder()
        self.resize_pool(1)
        stored = self.one_event(recorder)
        with self.assertRaises(IntegrityError) as refused:  # the same aggregate version again
            recorder.insert_events([replace(stored, state=b"other")])
        self.assertIn("duplicate key", str(refused.exception))
        # A NUL in a text value: refused, as psycopg refuses it, not stored cut short at it.
        context = CommandContext(org_id=CONTRACT_ORG, command_id="nul", actor="user:a\x00b")
        with self.assertRaises(DataError):
            recorder.insert_events(
                [StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")],
                metadata=context.stamped(datetime.now(UTC)),
            )

        # The same session appends on; the refused append drew position 2 and left a gap.
        self.assertEqual(recorder.insert_events([replace(stored, originator_version=2)]), [3])


class TestEventsRecorderNonInterleaving(
    OnMigratedDatabase, library_cases.NonInterleavingNotificationIDsBaseCase
):
    """Two saves racing each other get two unbroken runs of positions, never interleaved."""

    def setUp(self) -> None:
        super().setUp()
        self.resize_pool(3)

    @pytest.mark.skip(reason=LIBRARY_RACE_BY_CHANCE)
    def test(self) -> None:
        super().test()

    def test_a_save_held_up_midway_lets_another_through(self) -> None:
        """The library's race, made certain: save A waits halfway through its rows (on a row
        another transaction is inserting with the same aggregate version) while save B goes
        through; then A completes. Where the library keeps each save in one unbroken run of
        positions (its writers queue on a table lock), ours lets B through meanwhile: B's run
        lies inside A's, and each save's positions still follow its events' order."""
        recorder = self.create_recorder()
        stack_a = self.create_stack(self.new_originator_id())[:100]
        stack_b = self.create_stack(self.new_originator_id())[:100]
        held = stack_a[50]
        with psycopg.connect(self.database_url) as blocker:
            blocker.execute(
                "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
                " event_type, topic, data, org_id, occurred_at)"
                " VALUES (gen_random_uuid(), %s, %s, '', '', 'held', '{}', %s, now())",
                (held.originator_id, held.originator_version, CONTRACT_ORG),
            )
            with ThreadPoolExecutor(max_workers=1) as pool:
                saving_a = pool.submit(recorder.insert_events, stack_a)
                self.wait_until_an_append_waits()
                positions_b = list(recorder.insert_events(stack_b) or [])
                blocker.rollback()
                positions_a = list(saving_a.result(timeout=30) or [])

        self.assertEqual((len(positions_a), len(positions_b)), (100, 100))
        self.assertEqual(positions_b, list(range(positions_b[0], positions_b[0] + 100)))
        self.assertEqual(positions_a, sorted(positions_a))
        self.assertTrue(positions_a[0] < positions_b[0] < positions_b[-1] < positions_a[-1])

    def wait_until_an_append_waits(self) -> None:
        """Until a session of this test's database waits for a lock (save A on the held row)."""
        deadline = time.monotonic() + 10
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                found = conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE '%events_append%'"
                ).fetchone()
                if found:
                    return
                time.sleep(0.01)
        raise AssertionError("save A never waited for the held row")


class TestEventsRecorderWithoutMigrations(TestCase):
    """The library's ``TestPostgresApplicationRecorderErrors``: a recorder whose table does not
    exist raises ``ProgrammingError`` (which the retry does not swallow). Adapted: the library
    creates its table with ``create_table()``, which for us deliberately does nothing (tables
    belong to ``migrations/``), so "table not created" is a database never migrated."""

    @pytest.fixture(autouse=True)
    def _empty_database(self, empty_database_url: str) -> Iterator[None]:
        self.database_url = empty_database_url
        self.infrastructure = EventStoreInfrastructure(
            empty_database_url, pool_size=1, max_overflow=0
        )
        self.recorder = ContractRecorder(
            self.infrastructure.datastore, self.infrastructure.doorbell
        )
        self.recorder.create_table()
        yield
        self.infrastructure.close()

    def test_select_notifications_raises_programming_error_when_table_not_created(self) -> None:
        with self.assertRaises(ProgrammingError):
            self.recorder.select_notifications(start=1, limit=1)

    def test_max_notification_id_raises_programming_error_when_table_not_created(self) -> None:
        with self.assertRaises(ProgrammingError):
            self.recorder.max_notification_id()

    def test_select_events_raises_programming_error_when_table_not_created(self) -> None:
        with self.assertRaises(ProgrammingError):
            self.recorder.select_events(uuid.uuid4())

    def test_insert_events_raises_programming_error_when_table_not_created(self) -> None:
        with self.assertRaises(ProgrammingError):
            self.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")])

    def test_a_conflict_is_still_an_integrity_error_once_migrated(self) -> None:
        """Guards the guard: these cases must fail for the missing table, not for anything
        else, so the same recorder on the migrated schema appends and then conflicts."""
        apply_migrations(self.database_url)
        stored = StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")
        self.assertEqual(self.recorder.insert_events([stored]), [1])
        with self.assertRaises(IntegrityError):
            self.recorder.insert_events([stored])
