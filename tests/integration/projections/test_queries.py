"""Read queries: filters, org scoping, keyset pagination and input checks."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from projections.errors import InvalidCursorError
from projections.queries import (
    Page,
    get_contact,
    get_definition,
    get_execution,
    get_task,
    list_contacts,
    list_definitions,
    list_executions,
    list_my_tasks,
    list_tasks,
    projection_status,
)
from tests.integration.projections.eventlog import EventLog, append
from tests.integration.projections.scenario import onboarding
from tests.integration.projections.support import project_all

Conn = psycopg.Connection[Any]


def walk(fetch: Callable[[str | None], Page]) -> list[dict[str, Any]]:
    """Every item of every page, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = fetch(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def ids(items: list[dict[str, Any]]) -> list[UUID]:
    return [item["id"] for item in items]


# -- contacts ---------------------------------------------------------------------------------


def test_contacts_filter_by_status_and_search_names_and_emails(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    ada = log.contact(first_name="Ada", last_name="Lovelace", email="ada@engines.org")
    grace = log.contact(
        first_name="Grace", last_name="Hopper", email="grace@navy.mil", status="lead"
    )
    odd = log.contact(first_name="100%_sure", last_name=None, email=None)
    elsewhere = log.contact(org_id="org_b", first_name="Ada", last_name="Byron", email="a@b.c")
    append(database_url, log.take())
    project_all(database_url)

    def search(q: str, org: str = "org_a") -> set[UUID]:
        return set(ids(list_contacts(conn, org, q=q).items))

    assert search("ada") == {ada}
    assert search("LOVE") == {ada}
    assert search("ada lovelace") == {ada}
    assert search("navy.MIL") == {grace}
    assert search("%") == {odd}
    assert search("_s") == {odd}
    assert search("   ") == {ada, grace, odd}
    assert search("ada", org="org_b") == {elsewhere}

    assert ids(list_contacts(conn, "org_a", status="lead").items) == [grace]
    assert ids(list_contacts(conn, "org_a", status="lead", q="ada").items) == []


def test_archived_contacts_are_listed_unless_filtered_out(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    kept = log.contact()
    gone = log.contact()
    log.add(gone, "Contact.Archived", reason=None)
    append(database_url, log.take())
    project_all(database_url)

    assert set(ids(list_contacts(conn, "org_a").items)) == {kept, gone}
    assert ids(list_contacts(conn, "org_a", archived=False).items) == [kept]
    assert ids(list_contacts(conn, "org_a", archived=True).items) == [gone]


def test_another_orgs_rows_are_never_returned(database_url: str, log: EventLog, conn: Conn) -> None:
    story = onboarding(log)
    append(database_url, log.take())
    project_all(database_url)

    assert get_contact(conn, "org_b", story.contact_id) is None
    assert get_task(conn, "org_b", story.task_id) is None
    assert get_execution(conn, "org_b", story.execution_id) is None
    assert get_definition(conn, "org_b", story.definition_id) is None
    assert get_definition(conn, "org_b", story.definition_id, version=1) is None
    for page in (
        list_contacts(conn, "org_b"),
        list_tasks(conn, "org_b"),
        list_my_tasks(conn, "org_b", "u7", ["admin"]),
        list_executions(conn, "org_b"),
        list_definitions(conn, "org_b"),
    ):
        assert page.items == []
    assert list_tasks(conn, "org_b", execution_id=story.execution_id).items == []


def test_a_malformed_or_unknown_id_reads_as_missing(database_url: str, conn: Conn) -> None:
    assert get_contact(conn, "org_a", "not-a-uuid") is None
    assert get_task(conn, "org_a", uuid.uuid4()) is None
    assert get_definition(conn, "org_a", "") is None


# -- pagination -------------------------------------------------------------------------------


@pytest.mark.parametrize("tick", [timedelta(seconds=1), timedelta(0)])
def test_paging_visits_every_row_once_newest_first(
    database_url: str, log: EventLog, conn: Conn, tick: timedelta
) -> None:
    # tick=0 gives every contact the same created_at: order and cursor must fall back to id.
    log.tick = tick
    created = [log.contact(status="lead" if i % 3 else "active") for i in range(23)]
    log.contact(org_id="org_b")
    append(database_url, log.take())
    project_all(database_url)

    items = walk(lambda cursor: list_contacts(conn, "org_a", limit=5, cursor=cursor))
    assert len(items) == 23
    assert set(ids(items)) == set(created)
    keys = [(item["created_at"], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=True)

    leads = walk(lambda cursor: list_contacts(conn, "org_a", status="lead", limit=4, cursor=cursor))
    assert sorted(ids(leads)) == sorted(c for i, c in enumerate(created) if i % 3)

    whole = list_contacts(conn, "org_a", limit=23)
    assert whole.next_cursor is None
    assert ids(whole.items) == ids(items)


def test_every_list_pages_with_the_same_cursor_scheme(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    for _ in range(3):
        onboarding(log)
    append(database_url, log.take())
    project_all(database_url)

    listings: list[tuple[Callable[[str | None], Page], int]] = [
        (lambda c: list_tasks(conn, "org_a", limit=2, cursor=c), 3),
        (lambda c: list_my_tasks(conn, "org_a", "u7", [], limit=2, cursor=c), 3),
        (lambda c: list_executions(conn, "org_a", limit=2, cursor=c), 6),
        (lambda c: list_definitions(conn, "org_a", limit=2, cursor=c), 3),
    ]
    for fetch, expected in listings:
        items = walk(fetch)
        assert len(items) == len(set(ids(items))) == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "6e7d4cb8-3f4e-4ee5-9f5a-111111111111"]').decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "6e7d4cb8-3f4e-4ee5-9f5a-111111111111"]')
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "nope"]').decode(),
    ],
)
def test_a_malformed_cursor_is_refused_with_a_clear_error(conn: Conn, cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match="cursor is malformed"):
        list_contacts(conn, "org_a", cursor=cursor)
    assert issubclass(InvalidCursorError, ValueError)


@pytest.mark.parametrize("limit", [0, -1, 201, 10_000])
def test_a_limit_outside_1_to_200_is_refused(conn: Conn, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        list_tasks(conn, "org_a", limit=limit)


# -- tasks ------------------------------------------------------------------------------------


def test_tasks_filter_by_status_assignee_execution_and_contact(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    execution_id, contact_id = uuid.uuid4(), uuid.uuid4()
    review = log.task(
        assigned_to="role:admin", execution_id=str(execution_id), contact_id=str(contact_id)
    )
    call = log.task(assigned_to="user:u1", contact_id=str(contact_id))
    other = log.task(assigned_to="user:u2")
    log.add(
        call,
        "Task.StatusChanged",
        old_status="todo",
        new_status="in_progress",
        metadata={},
        completed_at=None,
    )
    log.task(org_id="org_b", assigned_to="user:u1", contact_id=str(contact_id))
    append(database_url, log.take())
    project_all(database_url)

    def listed(**filters: Any) -> set[UUID]:
        return set(ids(list_tasks(conn, "org_a", **filters).items))

    assert listed() == {review, call, other}
    assert listed(status="in_progress") == {call}
    assert listed(status="todo") == {review, other}
    assert listed(assigned_to="user:u1") == {call}
    assert listed(execution_id=execution_id) == {review}
    assert listed(execution_id=str(execution_id).upper()) == {review}
    assert listed(contact_id=str(contact_id)) == {review, call}
    assert listed(contact_id=contact_id, status="todo") == {review}


def test_my_tasks_are_those_assigned_to_me_or_to_one_of_my_roles(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    mine = log.task(assigned_to="user:u1")
    admins = log.task(assigned_to="role:admin")
    reviewers = log.task(assigned_to="role:reviewer")
    log.task(assigned_to="user:u2")
    log.task(assigned_to="role:viewer")
    log.task(org_id="org_b", assigned_to="user:u1")
    append(database_url, log.take())
    project_all(database_url)

    def my(roles: list[str], **filters: Any) -> set[UUID]:
        return set(ids(list_my_tasks(conn, "org_a", "u1", roles, **filters).items))

    assert my([]) == {mine}
    assert my(["admin", "role:reviewer"]) == {mine, admins, reviewers}
    assert my(["admin"], status="done") == set()


# -- executions and definitions ---------------------------------------------------------------


def test_executions_filter_by_status_definition_and_contact(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    story = onboarding(log)
    other_definition = log.definition(name="Other")
    stray = log.execution(definition_id=other_definition)
    append(database_url, log.take())
    project_all(database_url)

    def listed(**filters: Any) -> set[UUID]:
        return set(ids(list_executions(conn, "org_a", **filters).items))

    assert listed(status="completed") == {story.execution_id}
    assert listed(status="pending") == {stray}
    assert listed(definition_id=story.definition_id) == {
        story.execution_id,
        story.cancelled_execution_id,
    }
    assert listed(contact_id=story.contact_id, status="cancelled") == {story.cancelled_execution_id}
    with_steps = list_executions(conn, "org_a", status="completed").items[0]
    assert len(with_steps["steps"]) == 5
    without = list_executions(conn, "org_a", status="completed", include_steps=False).items[0]
    assert "steps" not in without
    assert without["ui_status"] == "approved"


def test_definitions_list_and_versions(database_url: str, log: EventLog, conn: Conn) -> None:
    story = onboarding(log)
    draft = uuid.uuid4()
    log.add(draft, "WorkflowDefinition.Created", org_id="org_a")
    append(database_url, log.take())
    project_all(database_url)

    assert set(ids(list_definitions(conn, "org_a").items)) == {story.definition_id, draft}
    assert ids(list_definitions(conn, "org_a", is_active=True).items) == [story.definition_id]
    assert get_definition(conn, "org_a", story.definition_id, version=3) is None

    unpublished = get_definition(conn, "org_a", draft)
    assert unpublished is not None
    assert unpublished["current_version"] is None
    assert unpublished["steps"] is None


def test_projection_status_shows_position_head_and_lag(
    database_url: str, log: EventLog, conn: Conn
) -> None:
    log.contact()
    log.task()
    append(database_url, log.take())
    project_all(database_url)
    log.contact()
    append(database_url, log.take())

    status = {row["name"]: row for row in projection_status(conn)}
    assert set(status) == {"contacts", "tasks", "executions", "definitions", "execution_stats"}
    assert status["contacts"]["position"] == 2
    assert status["contacts"]["head"] == 3
    assert status["contacts"]["lag_events"] == 1
    assert status["contacts"]["lag_seconds"] >= 0
    assert status["contacts"]["status"] == "stopped"  # project_all ran and let go

    project_all(database_url)
    (contacts,) = projection_status(conn, "contacts")
    assert (contacts["lag_events"], contacts["lag_seconds"]) == (0, 0)
