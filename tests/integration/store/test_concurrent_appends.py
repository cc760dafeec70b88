"""Appends without a table lock (migration 0009): writers do not wait for each other, commits
land out of position order, and followers still see every event exactly once, in order."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.metadata import CommandContext
from application.store import EventStoreInfrastructure
from projections import Projector
from projections.horizon import Horizon, safe_head
from tests.integration.projections.counting import CREATE_TABLE, TABLE, CountingProjection
from tests.support.aggregates import CounterService

Conn = psycopg.Connection[Any]

_INSERT = (
    "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
    " event_type, topic, data, org_id, occurred_at) VALUES (gen_random_uuid(),"
    " gen_random_uuid(), 1, 'counter', 'Counter.Created', 'tests.support.aggregates:"
    "Counter.Created', '{}', 'org_a', now()) RETURNING position"
)
_INSERT_MANY = (
    "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
    " event_type, topic, data, org_id, occurred_at) SELECT gen_random_uuid(),"
    " gen_random_uuid(), 1, 'counter', 'Counter.Created', 'tests.support.aggregates:"
    "Counter.Created', '{}', 'org_a', now() FROM generate_series(1, %s) RETURNING position"
)
_READ = "SELECT position FROM events WHERE position > %s AND position <= %s ORDER BY position"


@pytest.fixture
def counters(database_url: str) -> Iterator[CounterService]:
    store = EventStoreInfrastructure(database_url)
    yield CounterService(store)
    store.close()


def _visible(conn: Conn) -> list[int]:
    return [r[0] for r in conn.execute("SELECT position FROM events ORDER BY position")]


def test_a_writer_does_not_wait_for_another_writers_open_transaction(
    database_url: str, counters: CounterService
) -> None:
    with psycopg.connect(database_url) as slow:
        slow.execute(_INSERT)  # its transaction stays open: the table lock would block others
        done = threading.Event()

        def append() -> None:
            counters.create(CommandContext(org_id="org_a", command_id="c1"), "visits")
            done.set()

        writer = threading.Thread(target=append, daemon=True)
        writer.start()
        assert done.wait(20), "an append waited for another writer's open transaction"
        slow.rollback()


def test_a_lower_position_that_commits_late_is_not_passed_over(
    database_url: str, counters: CounterService
) -> None:
    with psycopg.connect(database_url, autocommit=True) as follower:
        horizon = Horizon()
        with psycopg.connect(database_url) as late:
            (low,) = late.execute(_INSERT).fetchone() or (0,)
            counters.create(CommandContext(org_id="org_a", command_id="c1"), "visits")
            high = max(_visible(follower))
            assert high > low and low not in _visible(follower)  # a naive reader would skip it

            safe = horizon.observe(follower)
            assert safe < low, "the safe head passed a position still in flight"
            assert safe_head(follower, max_wait=0.2) is None  # one-off readers wait, then refuse
            late.commit()

        deadline = time.monotonic() + 10
        while horizon.observe(follower) < high and time.monotonic() < deadline:
            time.sleep(0.01)
        seen = [r[0] for r in follower.execute(_READ, (0, horizon.safe))]
        assert seen == [low, high]


def test_followers_see_every_event_of_racing_out_of_order_writers_exactly_once(
    database_url: str,
) -> None:
    """Writers hold their transactions open for a random while after inserting, so commits land
    out of position order; a follower reading by the safe head and a real projector both take
    in every event exactly once, and the test checks the race it set up really happened."""
    with psycopg.connect(database_url, autocommit=True) as setup:
        setup.execute(CREATE_TABLE)
    writers, per_writer = 6, 40
    commits: list[tuple[int, float]] = []  # (position, when it committed)
    lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(database_url) as conn:
                for _ in range(per_writer):
                    rows = conn.execute(_INSERT_MANY, (rng.randint(1, 3),)).fetchall()
                    time.sleep(rng.random() * 0.01)
                    conn.commit()
                    at = time.monotonic()
                    with lock:
                        commits.extend((row[0], at) for row in rows)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen: list[int] = []

    def follow() -> None:
        horizon = Horizon()
        after = 0
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                while True:
                    finished = stop.is_set()
                    safe = horizon.observe(conn)
                    rows = conn.execute(_READ, (after, safe)).fetchall()
                    seen.extend(r[0] for r in rows)
                    after = max(after, safe)
                    if finished and horizon.settled:
                        return
                    time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    projection = CountingProjection({"Counter.Created"})
    projector_stop = threading.Event()
    projector = Projector(database_url, [projection], batch_size=7, poll_interval=0.05)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    follower = threading.Thread(target=follow)
    projecting = threading.Thread(target=projector.run_forever, args=(projector_stop,))
    for t in [follower, projecting, *threads]:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    follower.join(30)
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            applied = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
            if applied is not None and applied[0] >= len(commits):
                break
            time.sleep(0.05)
        projector_stop.set()
        projecting.join(30)
        projected = [r[0] for r in conn.execute(f"SELECT position FROM {TABLE} ORDER BY 1")]

    assert errors == []
    everything = sorted(position for position, _ in commits)
    assert seen == everything  # every event, once, in position order
    assert projected == everything  # exactly once through the real projector too
    # The race happened: some position committed after a higher one had committed.
    by_commit = [position for position, _ in sorted(commits, key=lambda c: c[1])]
    late = sum(1 for a, b in itertools.pairwise(by_commit) if b < a)
    assert late > 0
