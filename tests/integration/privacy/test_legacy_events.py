"""A store with events written in clear before encryption: `bytedash privacy legacy` names
them (by org, and by contact with their positions), and what an erasure does and does not reach
for such a person: the contact's row is erased, the clear events (and rows built from them)
stay, and the report still names them."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from application.bundle import build_services
from application.metadata import CommandContext
from domain.personal import ERASED
from interfaces.cli import CommandLineError, build_parser
from projections import Projector, default_projections

MARKER = "Qwlegacy"


@dataclass
class Ran:
    code: int
    out: str
    err: str


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
) -> Ran:
    with monkeypatch.context() as patched:
        patched.setenv("DATABASE_URL", url)
        parsed = build_parser().parse_args(["privacy", "legacy", *args])
        try:
            code = parsed.func(parsed)
        except CommandLineError as e:
            print(f"bytedash: {e}", file=sys.stderr)
            code = 2
    out = capsys.readouterr()
    return Ran(code, out.out, out.err)


def _append_clear(url: str, org: str, contact: str, task: str) -> None:
    """A contact and a task about them, as the store held them before encryption, appended
    through events_append (the recorder's own path: positions and the chain treat them as any
    other append)."""
    created: dict[str, Any] = {
        "org_id": org,
        "first_name": MARKER,
        "last_name": "Byron",
        "email": f"{MARKER.lower()}@example.com",
        "phone": None,
        "status": "active",
        "fields": {},
        "timestamp": "2024-05-01T09:00:00+00:00",
        "originator_topic": "domain.contact:Contact",
    }
    assigned: dict[str, Any] = {
        "title": f"Call {MARKER}",
        "org_id": org,
        "status": "todo",
        "step_id": None,
        "due_date": None,
        "metadata": {},
        "priority": "medium",
        "timestamp": "2024-05-01T09:00:00+00:00",
        "contact_id": contact,
        "assigned_to": "role:admin",
        "description": None,
        "execution_id": None,
        "originator_topic": "domain.task:Task",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT events_append(%s::text, 'user:ops', 'api', NULL, NULL, NULL, NULL, 'corr',"
            " NULL,"
            " %s, '2024-05-01T09:00:00+00:00'::timestamptz, %s::uuid[], %s::uuid[],"
            " ARRAY[1, 1]::bigint[],"
            " ARRAY['contact', 'task'], ARRAY['Contact.Created', 'Task.Assigned'],"
            " ARRAY['domain.contact:Contact.Created', 'domain.task:Task.Assigned'], %s::text[])",
            (
                org,
                f"legacy-{contact}",
                [str(uuid.uuid4()), str(uuid.uuid4())],
                [contact, task],
                [json.dumps(created), json.dumps(assigned)],
            ),
        )


def test_clear_events_are_reported_by_org_and_contact(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _cli(monkeypatch, capsys, database_url)
    assert empty.code == 0
    assert "no event holds personal data in clear" in empty.out

    ada, other = str(uuid.uuid4()), str(uuid.uuid4())
    ada_task = str(uuid.uuid4())
    _append_clear(database_url, "org_legacy", ada, ada_task)
    _append_clear(database_url, "org_legacy", other, str(uuid.uuid4()))
    with psycopg.connect(database_url) as conn:
        positions = {
            str(row[0]): int(row[1])
            for row in conn.execute("SELECT originator_id, position FROM events")
        }

    whole = _cli(monkeypatch, capsys, database_url, "--org", "org_legacy")
    assert whole.code == 0
    assert "org_legacy  Contact.Created: 2 events of 2 aggregates" in whole.out
    assert "org_legacy  Task.Assigned: 2 events of 2 aggregates" in whole.out
    assert "4 events hold personal data in clear" in whole.out

    one = _cli(monkeypatch, capsys, database_url, "--org", "org_legacy", "--contact", ada, "--json")
    assert one.code == 0
    items = [json.loads(line) for line in one.out.splitlines()]
    assert {(i["event_type"], tuple(i["positions"])) for i in items} == {
        ("Contact.Created", (positions[ada],)),
        ("Task.Assigned", (positions[ada_task],)),
    }

    # The clear bytes are what the store holds: nothing the product does afterwards changes
    # them (the table refuses it), so the report is the record of what erasure cannot reach.
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.Error):
        conn.execute("UPDATE events SET data = '{}' WHERE originator_id = %s", (ada,))

    # Erasing that person reaches what is not made of their clear events: the key goes,
    # Contact.Erased is recorded, the contact's read-model row reads erased. Their clear events,
    # and a task row built from one, keep the clear values: the report still names them.
    services = build_services(database_url, pool_size=2)
    try:
        services.contacts.erase_contact(
            CommandContext(org_id="org_legacy", command_id=f"erase-{ada}", actor="user:dpo"),
            uuid.UUID(ada),
            "Art. 17 request",
        )
    finally:
        services.close()
    with Projector(database_url, default_projections()) as projector:
        projector.run_until_caught_up()
    with psycopg.connect(database_url) as conn:
        contact_row = conn.execute(
            "SELECT first_name, email FROM contacts WHERE id = %s", (ada,)
        ).fetchone()
        task_row = conn.execute("SELECT title FROM tasks WHERE id = %s", (ada_task,)).fetchone()
        stored = conn.execute(
            "SELECT data->>'first_name' FROM events WHERE originator_id = %s"
            " AND event_type = 'Contact.Created'",
            (ada,),
        ).fetchone()
    assert contact_row == (ERASED, ERASED)
    assert task_row == (f"Call {MARKER}",)
    assert stored == (MARKER,)
    after = _cli(
        monkeypatch, capsys, database_url, "--org", "org_legacy", "--contact", ada, "--json"
    )
    assert {json.loads(line)["event_type"] for line in after.out.splitlines()} == {
        "Contact.Created",
        "Task.Assigned",
    }

    refused = _cli(monkeypatch, capsys, database_url, "--contact", ada)
    assert refused.code == 2
    assert "--contact needs --org" in refused.err
    bad = _cli(monkeypatch, capsys, database_url, "--org", "org_legacy", "--contact", "x")
    assert bad.code == 2
    assert "is not a contact id" in bad.err
    nowhere = _cli(monkeypatch, capsys, "postgresql://postgres@127.0.0.1:1/x?connect_timeout=1")
    assert nowhere.code == 2
    assert "could not use the database" in nowhere.err
    assert "Traceback" not in nowhere.err
