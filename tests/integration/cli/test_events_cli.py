"""``bytedash events export|verify|tail`` against a real store."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

import psycopg
import pytest

from application.bundle import Services, build_services
from application.metadata import CommandContext
from application.services import ContactDraft


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = build_services(database_url)
    yield built
    built.close()


def _ctx(n: str, org: str = "org_cli") -> CommandContext:
    return CommandContext(org_id=org, command_id=f"cli-{n}", actor="user:cli")


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "interfaces.cli", "events", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_export_writes_one_orgs_events_as_ndjson_or_csv(
    services: Services, database_url: str
) -> None:
    services.contacts.create_contact(_ctx("1"), ContactDraft(first_name="Ada"))
    services.contacts.create_contact(_ctx("2"), ContactDraft(first_name="Bo"))
    services.contacts.create_contact(_ctx("3", org="org_other"), ContactDraft(first_name="Cy"))

    ndjson = _run(database_url, "export", "--org", "org_cli")
    assert ndjson.returncode == 0, ndjson.stderr
    lines = [json.loads(line) for line in ndjson.stdout.splitlines()]
    assert [e["data"]["first_name"] for e in lines] == ["Ada", "Bo"]
    assert "exported 2 events" in ndjson.stderr

    as_csv = _run(database_url, "export", "--org", "org_cli", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [json.loads(r["data"])["first_name"] for r in rows] == ["Ada", "Bo"]
    assert {r["actor"] for r in rows} == {"user:cli"}

    bad = _run(database_url, "export", "--org", "org_cli", "--aggregate-type", "spaceship")
    assert bad.returncode == 2
    assert bad.stderr.startswith("bytedash: ") and "Traceback" not in bad.stderr


def test_verify_reports_intact_then_the_first_altered_position(
    services: Services, database_url: str
) -> None:
    for n in range(3):
        services.contacts.create_contact(_ctx(str(n)), ContactDraft(first_name=f"N{n}"))

    intact = _run(database_url, "verify")
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("intact: 3 events")

    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")  # bypasses the immutability trigger
        conn.execute("UPDATE events SET actor = 'user:mallory' WHERE position = 2")
    broken = _run(database_url, "verify")
    assert broken.returncode == 1
    assert broken.stdout.startswith("BROKEN at position 2")


def test_tail_prints_new_events_as_they_are_recorded(services: Services, database_url: str) -> None:
    services.contacts.create_contact(_ctx("old"), ContactDraft(first_name="Old"))
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli", "events", "tail", "--org", "org_cli"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        # The tail starts at the head it reads once it is up, which may take seconds on a busy
        # machine: record new contacts until it prints one, rather than guessing when it is up.
        deadline = time.monotonic() + 60
        for n in itertools.count():
            assert time.monotonic() < deadline, "tail printed nothing within 60 s"
            services.contacts.create_contact(_ctx(f"new{n}"), ContactDraft(first_name="New"))
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=0.5)
                break
        assert json.loads(line)["data"]["first_name"] == "New", "the old contact is not tailed"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
    assert process.returncode == 0


def _read_lines(out: IO[str], lines: queue.Queue[str]) -> None:
    for line in out:
        lines.put(line)
