"""``projections status`` says whether a projector process holds each projection: a status that
read ``running`` from the projector's last word kept saying so after the process had died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg

from projections.queries import projection_status
from tests.integration.projections.support import wait_until


def _status_table(database_url: str) -> dict[str, str]:
    """`bytedash projections status` as printed: projection -> the state column."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-m", "interfaces.cli", "projections", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()[1:]
    return {line.split()[0]: line.split()[5] for line in lines}


def _statuses(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return {row["name"]: row for row in projection_status(conn)}


def test_status_says_stopped_once_the_projector_process_is_killed(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    projector = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli", "projector", "--only", "contacts"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: _statuses(database_url).get("contacts", {}).get("held") is True,
            timeout=60,
            what="the projector to take the contacts projection",
        )
        running = _statuses(database_url)
        assert running["contacts"]["status"] == "running"
        assert _status_table(database_url)["contacts"] == "running"

        projector.send_signal(signal.SIGKILL)
        projector.wait(10)
        # The server sees the session end (its advisory lock with it) within moments.
        deadline = time.monotonic() + 10
        while _statuses(database_url)["contacts"]["held"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if projector.poll() is None:
            projector.kill()
            projector.wait()

    after = _statuses(database_url)["contacts"]
    assert (after["state"], after["held"], after["status"]) == ("running", False, "stopped")
    assert _status_table(database_url)["contacts"] == "stopped"
