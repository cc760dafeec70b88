from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError
from psycopg.rows import dict_row

from application.errors import NotFoundError
from application.metadata import CommandContext
from application.store import EventStoreInfrastructure
from tests.support.aggregates import Counter, CounterService


@pytest.fixture
def store(database_url: str) -> Iterator[EventStoreInfrastructure]:
    infrastructure = EventStoreInfrastructure(database_url)
    yield infrastructure
    infrastructure.close()


@pytest.fixture
def counters(store: EventStoreInfrastructure) -> CounterService:
    return CounterService(store)


def _ctx(command_id: str, org: str = "org_a", **fields: str) -> CommandContext:
    return CommandContext(org_id=org, command_id=command_id, **fields)


def _rows(url: str, sql: str = "SELECT * FROM events ORDER BY position") -> list[dict[str, object]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql.encode()).fetchall()


def test_events_round_trip_and_take_consecutive_positions(
    counters: CounterService, database_url: str
) -> None:
    counter_id = counters.create(_ctx("c1"), "visits")
    counters.increment(_ctx("c2"), counter_id, by=2)
    counters.increment(_ctx("c3"), counter_id, by=3)

    counter = counters.get(counter_id)
    assert (counter.name, counter.count, counter.version) == ("visits", 5, 3)
    assert isinstance(counter.modified_on, datetime)
    rows = _rows(database_url)
    assert [r["position"] for r in rows] == [1, 2, 3]
    assert [r["event_type"] for r in rows] == [
        "Counter.Created",
        "Counter.Incremented",
        "Counter.Incremented",
    ]
    assert {r["aggregate_type"] for r in rows} == {"counter"}


def test_event_data_is_plain_json_that_sql_can_filter(
    counters: CounterService, database_url: str
) -> None:
    counters.create(_ctx("c1"), "visits")
    counters.create(_ctx("c2"), "sales")

    rows = _rows(database_url, "SELECT data FROM events WHERE data->>'name' = 'sales'")
    assert len(rows) == 1
    data = rows[0]["data"]
    assert isinstance(data, dict)
    assert data["name"] == "sales"
    assert isinstance(data["timestamp"], str)  # ISO text, not a tagged object


def test_every_event_carries_the_command_metadata_in_columns(
    counters: CounterService, database_url: str
) -> None:
    ctx = _ctx(
        "cmd-1",
        actor="user:42",
        source="api",
        correlation_id="corr-9",
        causation_id="cause-1",
        workflow_id="wf-1",
        workflow_run_id="run-1",
        workflow_type="ContactCommandWorkflow",
        activity_id="7",
    )
    counters.create(ctx, "visits")

    (row,) = _rows(database_url)
    assert row["org_id"] == "org_a"
    assert row["actor"] == "user:42"
    assert row["source"] == "api"
    assert row["correlation_id"] == "corr-9"
    assert row["causation_id"] == "cause-1"
    assert row["workflow_id"] == "wf-1"
    assert row["workflow_run_id"] == "run-1"
    assert row["workflow_type"] == "ContactCommandWorkflow"
    assert row["activity_id"] == "7"
    assert row["command_id"] == "cmd-1"
    occurred_at = row["occurred_at"]
    assert isinstance(occurred_at, datetime)
    assert abs((datetime.now(UTC) - occurred_at).total_seconds()) < 60


def test_metadata_filters_are_served_by_indexes(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        for column in ("org_id", "workflow_id", "event_type", "correlation_id", "actor"):
            plan = conn.execute(
                f"EXPLAIN SELECT * FROM events WHERE {column} = 'x' ORDER BY position".encode()
            ).fetchall()
            text = " ".join(r[0] for r in plan)
            assert "Seq Scan" not in text, (column, text)


def test_saving_without_metadata_is_refused(counters: CounterService) -> None:
    counter = Counter.make(__import__("uuid").uuid4(), "org_a", "x", datetime.now(UTC))
    with pytest.raises(ProgrammingError, match="metadata"):
        counters.save(counter)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = '{}'::jsonb",
        "UPDATE events SET org_id = 'org_b'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
def test_the_database_refuses_to_alter_or_remove_events(
    counters: CounterService, database_url: str, statement: str
) -> None:
    counters.create(_ctx("c1"), "visits")
    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.RestrictViolation, match="events are immutable"),
    ):
        conn.execute(statement.encode())
    assert len(_rows(database_url)) == 1


def test_the_same_command_twice_appends_nothing_and_returns_the_same_id(
    counters: CounterService, database_url: str
) -> None:
    first = counters.create(_ctx("create-1"), "visits")
    again = counters.create(_ctx("create-1"), "visits")
    counters.increment(_ctx("inc-1"), first, by=5)
    counters.increment(_ctx("inc-1"), first, by=5)

    assert again == first
    assert counters.get(first).count == 5
    assert len(_rows(database_url)) == 2


def test_a_retried_command_racing_itself_appends_once(
    counters: CounterService, database_url: str
) -> None:
    counter_id = counters.create(_ctx("create-1"), "visits")
    barrier = threading.Barrier(6)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(counters.increment(_ctx("inc-same"), counter_id, by=1))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [counter_id] * 6
    assert counters.get(counter_id).count == 1
    assert len(_rows(database_url)) == 2


def test_concurrent_different_commands_all_apply_through_optimistic_retries(
    counters: CounterService, database_url: str
) -> None:
    counter_id = counters.create(_ctx("create-1"), "visits")
    barrier = threading.Barrier(4)

    def run(n: int) -> None:
        barrier.wait()
        counters.increment(_ctx(f"inc-{n}"), counter_id, by=1)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert counters.get(counter_id).count == 4
    versions = [r["originator_version"] for r in _rows(database_url)]
    assert versions == [1, 2, 3, 4, 5]


def test_another_orgs_aggregate_is_not_found(counters: CounterService) -> None:
    counter_id = counters.create(_ctx("create-1", org="org_a"), "visits")
    with pytest.raises(NotFoundError):
        counters.increment(_ctx("inc-1", org="org_b"), counter_id)
    assert counters.get(counter_id).count == 0


def test_a_commands_last_position_is_found_for_read_your_writes(
    counters: CounterService, store: EventStoreInfrastructure
) -> None:
    counter_id = counters.create(_ctx("c1"), "visits")
    counters.increment(_ctx("c2"), counter_id)

    assert store.recorder.command_position("c1") == 1
    assert store.recorder.command_position("c2") == 2
    assert store.recorder.command_position("never-ran") is None


def test_the_idempotency_lookup_uses_the_command_index_even_on_a_skewed_store(
    counters: CounterService, database_url: str
) -> None:
    counter_id = counters.create(_ctx("c1"), "visits")
    for n in range(50):
        counters.increment(_ctx(f"inc-{n}"), counter_id)
    with psycopg.connect(database_url) as conn:
        conn.execute("ANALYZE events")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("SET enable_seqscan = off")  # a 51-row table would be scanned whole
        conn.execute(
            "PREPARE outcome(text) AS SELECT originator_id FROM events"
            " WHERE command_id = $1 ORDER BY position LIMIT 1"
        )
        plan = " ".join(r[0] for r in conn.execute("EXPLAIN EXECUTE outcome('never-seen')"))
    assert "events_command_position_idx" in plan, plan
