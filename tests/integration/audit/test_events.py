"""``GET /events``: filters, org scoping, position paging and streaming of the event store."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import pq

from application.bundle import Services
from application.services import ContactDraft
from domain.contact import Contact
from projections.audit import list_events, stream_events
from projections.audit.aggregates import AGGREGATE_TYPES
from projections.chain import seal
from projections.errors import InvalidCursorError
from projections.queries.pagination import MAX_LIMIT
from tests.integration.audit.support import MONDAY, Clock, Story, ctx, onboarding

Conn = psycopg.Connection[Any]


def walk(conn: Conn, org: str, limit: int, **filters: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = list_events(conn, org, limit=limit, cursor=cursor, **filters)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def types(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_type"] for item in items]


@pytest.fixture
def story(services: Services) -> Story:
    story = onboarding(services, "org_a")
    onboarding(services, "org_b")  # the same story in another org, with its own ids
    return story


def test_an_item_has_the_contracts_shape(services: Services, conn: Conn) -> None:
    contact_id = services.contacts.create_contact(
        ctx(correlation_id="req-9"), ContactDraft(first_name="Ada")
    )

    seal(conn)
    (item,) = list_events(conn, "org_a").items

    assert set(item) == {
        "position",
        "event_id",
        "aggregate_type",
        "aggregate_id",
        "aggregate_version",
        "event_type",
        "occurred_at",
        "recorded_at",
        "data",
        "metadata",
        "hash",
    }
    assert item["aggregate_type"] == "contact" and item["aggregate_id"] == str(contact_id)
    assert item["aggregate_version"] == 1 and item["event_type"] == "Contact.Created"
    assert item["occurred_at"] == MONDAY.isoformat()
    assert item["data"]["first_name"] == "Ada"
    assert item["metadata"] == {
        "org_id": "org_a",
        "actor": "user:alice",
        "source": "api",
        "workflow_id": None,
        "workflow_run_id": None,
        "workflow_type": None,
        "activity_id": None,
        "correlation_id": "req-9",
        "causation_id": None,
        "command_id": item["metadata"]["command_id"],
    }
    assert len(item["hash"]) == 64
    json.dumps(item)  # JSON-ready as it is: ndjson export needs no encoder


def test_each_filter_narrows_to_its_events(story: Story, conn: Conn) -> None:
    everything = walk(conn, "org_a", 200)

    by_type = list_events(conn, "org_a", aggregate_type="task").items
    assert {i["aggregate_type"] for i in by_type} == {"task"} and len(by_type) == 4

    by_id = list_events(conn, "org_a", aggregate_id=story.task_id).items
    assert types(by_id) == ["Task.Assigned", "Task.StatusChanged"]

    by_event = list_events(conn, "org_a", event_type="WorkflowExecution.StepStarted").items
    assert [i["data"]["step_id"] for i in by_event] == ["step_1", "step_2", "step_3", "step_4"]

    by_workflow = list_events(conn, "org_a", workflow_id=story.execution_workflow).items
    assert {i["metadata"]["workflow_id"] for i in by_workflow} == {story.execution_workflow}
    assert len(by_workflow) == 14  # 13 execution events and the task it assigned

    assert list_events(conn, "org_a", run_id="run-1").items == [
        i for i in everything if i["metadata"]["workflow_run_id"] == "run-1"
    ]
    by_correlation = list_events(conn, "org_a", correlation_id="req-1").items
    assert types(by_correlation) == ["Contact.Created"]
    by_actor = list_events(conn, "org_a", actor="user:bob").items
    assert types(by_actor) == ["Task.StatusChanged"]

    middle = everything[5]
    since = list_events(conn, "org_a", since=occurred(middle), limit=200).items
    assert since == everything[5:]
    until = list_events(conn, "org_a", until=occurred(middle), limit=200).items
    assert until == everything[:5]  # half-open: [since, until)
    after = list_events(conn, "org_a", after=middle["position"], limit=200).items
    assert after == everything[6:]


def occurred(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["occurred_at"])


def test_filters_combine(story: Story, conn: Conn) -> None:
    items = list_events(
        conn,
        "org_a",
        aggregate_type="workflow_execution",
        workflow_id=story.execution_workflow,
        event_type="WorkflowExecution.StepCompleted",
        since=MONDAY,
        until=MONDAY + timedelta(days=1),
    ).items
    assert [i["data"]["step_id"] for i in items] == ["step_1", "step_2", "step_3", "step_4"]
    none = list_events(conn, "org_a", aggregate_type="contact", workflow_id=story.task_workflow)
    assert none.items == [] and none.next_cursor is None


def test_another_orgs_events_never_appear(story: Story, conn: Conn) -> None:
    org_a = walk(conn, "org_a", 200)
    org_b = walk(conn, "org_b", 200)
    assert {i["metadata"]["org_id"] for i in org_a} == {"org_a"}
    assert {i["metadata"]["org_id"] for i in org_b} == {"org_b"}
    assert len(org_a) == len(org_b) == 19
    # Another org's ids, however exact, find nothing.
    assert list_events(conn, "org_b", aggregate_id=story.contact_id).items == []
    assert list_events(conn, "org_b", workflow_id=story.execution_workflow).items == []
    assert list_events(conn, "org_c").items == []


def test_paging_walks_every_event_exactly_once_in_position_order(
    story: Story, conn: Conn, services: Services
) -> None:
    everything = list_events(conn, "org_a", limit=MAX_LIMIT).items
    for limit in (1, 4, 7, 17, 50):
        walked = walk(conn, "org_a", limit)
        assert walked == everything
    positions = [i["position"] for i in everything]
    assert positions == sorted(positions) and len(set(positions)) == 19

    first = list_events(conn, "org_a", limit=10)
    services.contacts.create_contact(ctx(), ContactDraft(first_name="Late"))
    rest = list_events(conn, "org_a", limit=50, cursor=first.next_cursor)
    assert rest.items[:-1] == everything[10:]
    assert rest.items[-1]["data"]["first_name"] == "Late"  # appended while paging: picked up


def test_bad_input_is_refused(conn: Conn) -> None:
    with pytest.raises(InvalidCursorError):
        list_events(conn, "org_a", cursor="not-a-position")
    with pytest.raises(InvalidCursorError):
        list_events(conn, "org_a", cursor="-5")
    with pytest.raises(ValueError, match="limit"):
        list_events(conn, "org_a", limit=MAX_LIMIT + 1)
    with pytest.raises(ValueError, match=", ".join(AGGREGATE_TYPES)):
        list_events(conn, "org_a", aggregate_type="contacts")
    with pytest.raises(ValueError, match="timezone"):
        list_events(conn, "org_a", since=MONDAY.replace(tzinfo=None))
    with pytest.raises(ValueError, match="after"):
        list_events(conn, "org_a", after=-1)
    with pytest.raises(ValueError, match=", ".join(AGGREGATE_TYPES)):
        stream_events(conn, "org_a", aggregate_type="nope")  # before any item is asked for
    assert list_events(conn, "org_a", aggregate_id="not-a-uuid").items == []


def _many(services: Services, org: str, n: int) -> None:
    """`n` events of one contact, appended in one save (one INSERT) through the service."""
    at = Clock().now
    contact = Contact.create(
        contact_id=uuid.uuid4(),
        org_id=org,
        first_name="Many",
        last_name=None,
        email=None,
        phone=None,
        at=at,
    )
    for i in range(n - 1):
        contact.update(changes={"phone": str(i)}, at=at)
    services.contacts.save(contact, metadata=ctx(org).stamped(at))


def test_streaming_returns_every_match_through_a_server_side_cursor_in_chunks(
    services: Services, conn: Conn
) -> None:
    _many(services, "org_a", 5_000)
    _many(services, "org_b", 300)

    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        stream = stream_events(conn, "org_a", chunk_size=1_000)
        first = next(stream)
        # The first item is here while the cursor is still open on the server.
        open_cursors = conn.execute("SELECT name FROM pg_cursors").fetchall()
        rest = list(stream)
        conn.pgconn.untrace()
        trace.flush()
        os.fsync(trace.fileno())
        trace.seek(0)
        fetches = trace.read().count("FETCH FORWARD 1000")

    assert [name for (name,) in open_cursors if name.startswith("audit_events_")]
    items = [first, *rest]
    assert len(items) == 5_000
    assert [i["aggregate_version"] for i in items] == list(range(1, 5_001))
    assert {i["metadata"]["org_id"] for i in items} == {"org_a"}
    assert fetches == 6  # five full chunks, and one that comes back empty
    assert conn.execute("SELECT count(*) FROM pg_cursors").fetchone() == (0,)


def test_a_stream_closed_early_leaves_no_cursor_or_transaction_behind(
    services: Services, conn: Conn
) -> None:
    _many(services, "org_a", 50)
    stream = stream_events(conn, "org_a", chunk_size=10)
    assert next(stream)["aggregate_version"] == 1
    stream.close()
    assert conn.execute("SELECT count(*) FROM pg_cursors").fetchone() == (0,)
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_streaming_applies_the_same_filters_as_paging(story: Story, conn: Conn) -> None:
    filters: dict[str, Any] = {"aggregate_type": "workflow_execution", "since": MONDAY}
    assert list(stream_events(conn, "org_a", chunk_size=3, **filters)) == walk(
        conn, "org_a", 5, **filters
    )
