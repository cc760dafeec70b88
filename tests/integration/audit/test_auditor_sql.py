"""The SQL side for auditors: views in schema ``audit`` and the ``bytedash_auditor`` role that
can read them — and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.bundle import Services
from migrations import apply_migrations
from projections.audit import list_events
from tests.integration.audit.support import Story, onboarding

Conn = psycopg.Connection[Any]
# Refused for want of a right, or (writes through audit.events, which joins the chain since
# migration 0009) because the view is not updatable at all.
DENIED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)


@pytest.fixture
def story(services: Services) -> Story:
    return onboarding(services)


@pytest.fixture
def auditor(database_url: str) -> Iterator[Conn]:
    """A connection acting as bytedash_auditor (NOLOGIN: a superuser switches into it)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET ROLE bytedash_auditor")
        yield conn


def test_the_auditor_reads_the_events_view_with_contract_names(
    story: Story, auditor: Conn, conn: Conn
) -> None:
    rows = auditor.execute(
        "SELECT position, aggregate_type, aggregate_id, aggregate_version, event_type, data,"
        " workflow_id, hash FROM audit.events WHERE org_id = 'org_a' ORDER BY position"
    ).fetchall()

    items = list_events(conn, "org_a", limit=200).items
    assert [(r[0], r[1], str(r[2]), r[3], r[4], r[6], r[7]) for r in rows] == [
        (
            i["position"],
            i["aggregate_type"],
            i["aggregate_id"],
            i["aggregate_version"],
            i["event_type"],
            i["metadata"]["workflow_id"],
            i["hash"],
        )
        for i in items
    ]
    # The view shows what is stored: personal attributes only sealed in `_personal`, the rest
    # as the API shows it (docs/auditing.md).
    sealed = 0
    for row, item in zip(rows, items, strict=True):
        stored: dict[str, Any] = row[5]
        personal = set(stored.get("_personal", {}).get("shape", {}))
        sealed += bool(personal)
        assert not personal & set(stored)
        assert {k: v for k, v in stored.items() if k != "_personal"} == {
            k: v for k, v in item["data"].items() if k not in personal
        }
    assert sealed > 0


def test_the_auditor_reads_aggregate_versions_and_workflow_activity(
    story: Story, auditor: Conn
) -> None:
    version = auditor.execute(
        "SELECT aggregate_type, org_id, version, event_count, created_at < updated_at"
        " FROM audit.aggregate_versions WHERE aggregate_id = %s",
        (story.execution_id,),
    ).fetchone()
    assert version == ("workflow_execution", "org_a", 13, 13, True)

    activity = auditor.execute(
        "SELECT org_id, workflow_type, runs, run_ids, event_count,"
        " first_occurred_at < last_occurred_at"
        " FROM audit.workflow_activity WHERE workflow_id = %s",
        (story.execution_workflow,),
    ).fetchone()
    assert activity == ("org_a", "ExecutionWorkflow", 1, ["run-1"], 14, True)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM public.events",
        "SELECT * FROM events",
        "SELECT * FROM contacts",
        "SELECT * FROM tasks",
        "SELECT * FROM projection_tracking",
        "SELECT * FROM schema_migrations",
        "INSERT INTO audit.events (event_type) VALUES ('Contact.Created')",
        "INSERT INTO events (event_id, originator_id, originator_version, aggregate_type,"
        " event_type, topic, data, org_id, occurred_at) VALUES (gen_random_uuid(),"
        " gen_random_uuid(), 1, 'contact', 'Contact.Created', 't', '{}', 'org_a', now())",
        "INSERT INTO contacts (id, org_id, status) VALUES (gen_random_uuid(), 'org_a', 'x')",
        "DELETE FROM audit.events",
        "CREATE TABLE audit.notes (id int)",
        "CREATE TABLE public.notes (id int)",
        "CREATE VIEW audit.mine AS SELECT 1",
    ],
)
def test_the_auditor_can_do_nothing_else(auditor: Conn, statement: str) -> None:
    with pytest.raises(DENIED):
        auditor.execute(statement.encode())


def test_the_role_and_grants_survive_a_second_database_migrating(
    empty_database_url: str, auditor: Conn
) -> None:
    """Roles are server-wide: migrating another database must neither fail on the existing
    role nor take this database's grants away."""
    apply_migrations(empty_database_url)
    assert auditor.execute("SELECT count(*) FROM audit.events").fetchone() == (0,)
    with psycopg.connect(empty_database_url, autocommit=True) as other:
        other.execute("SET ROLE bytedash_auditor")
        assert other.execute("SELECT count(*) FROM audit.events").fetchone() == (0,)
        with pytest.raises(DENIED):
            other.execute("SELECT * FROM events")


def test_the_role_cannot_log_in(conn: Conn) -> None:
    assert conn.execute(
        "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'bytedash_auditor'"
    ).fetchone() == (False, False)
