"""No personal data or secrets in logs: a worker process logs a run (JSON lines to a file) in
which a contact's email address and phone number and a secret's value travel in an outbound
call's URL and headers; the file is searched for them. And every kind of line (structlog's,
the standard library's, an exception's traceback) is masked the same way."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.api.conftest import Stack
from tests.integration.engine.over_http.support import activate, body, run, step
from tests.integration.secrets.servers import Recorder, echo_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Recorder]:
    with echo_server() as server:
        yield server


@pytest.mark.asyncio(loop_scope="session")
async def test_a_runs_logs_hold_no_email_phone_token_or_secret(
    stack: Stack, endpoint: Recorder, tmp_path: Path
) -> None:
    queue = f"logged-{uuid.uuid4().hex[:8]}"
    address = stack.app.state.api.temporal.service_client.config.target_host
    log_file = tmp_path / "worker.log"
    with log_file.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.secrets.logged_worker",
            stack.database_url,
            address,
            queue,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        try:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), 60)
            assert ready.strip() == b"ready"
            admin = stack.caller("admin")
            value = f"tok-{uuid.uuid4().hex}"
            put = await admin.put("/api/v1/secrets/LOG_KEY", json={"value": value})
            assert put.status_code == 200
            definition = body(
                step(
                    "call",
                    "http_request",
                    method="GET",
                    url=f"{endpoint.url}/seen?key={{{{secrets.LOG_KEY}}}}"
                    "&who={{contact.email}}&tel={{contact.phone}}",
                    headers={"Authorization": "Bearer {{secrets.LOG_KEY}}"},
                )
            )
            # The stack's own worker must not take this run: its definition is started on
            # the logged worker's queue through Temporal directly.
            definition_id = await activate(admin, definition)
            stack.app.state.api.settings.temporal_task_queue = queue
            try:
                execution = await run(
                    admin,
                    definition_id,
                    contact={
                        "first_name": "Ann",
                        "email": "ann.log@example.com",
                        "phone": "+44 20 7946 0958",
                    },
                )
            finally:
                stack.app.state.api.settings.temporal_task_queue = stack.task_queue
            assert execution["status"] == "completed", execution
        finally:
            process.terminate()
            await process.wait()
    (seen,) = [r for r in endpoint.requests if r["path"].startswith("/seen")]
    assert value in seen["path"] and "ann.log@example.com" in seen["path"].replace("%40", "@")

    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "httpx" for line in lines), text[-2000:]
    for raw in (value, "ann.log@example.com", "ann.log%40example.com", "+44 20 7946 0958", "7946"):
        assert raw not in text, raw
    httpx_lines = " ".join(line["event"] for line in lines if line.get("logger") == "httpx")
    assert "[secret]" in httpx_lines  # the request line was logged, masked


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_every_kind_of_line_is_masked(tmp_path: Path, log_format: str) -> None:
    script = """
import logging, structlog
from interfaces.logging import configure_logging
from worker.secret_values import remember
configure_logging(LOG_FORMAT)
remember(["s3cr3t-value-42"])
log = structlog.get_logger("t")
log.info("contact", email="grace@example.com", note="call +1 (555) 123-4567 or 555-123-4567")
log.info("auth", header="Bearer abc.DEF-123", jwt="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
log.info("fields", api_key="k-1", password="p", token="t", nested={"to": ["bob@example.org"]})
logging.getLogger("httpx").info("HTTP Request: GET http://x/?k=s3cr3t-value-42&m=a@b.io")
try:
    raise ValueError("bad value for grace@example.com: s3cr3t-value-42")
except ValueError:
    log.exception("failed")
log.info("ordinary", id="c5574e9c-d341-1158-fc21-2dad95e05ca", at="2026-12-02T16:00:00Z",
         ip="127.0.0.1:8000", n=12345678)
"""
    script = script.replace("LOG_FORMAT", repr(log_format))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    out = done.stderr
    assert done.returncode == 0, out
    for raw in (
        "grace@example.com",
        "bob@example.org",
        "a@b.io",
        "555",
        "abc.DEF-123",
        "eyJhbGciOiJIUzI1NiJ9",
        "s3cr3t-value-42",
        '"k-1"',
        '"p"',
    ):
        assert raw not in out, (raw, out)
    for label in ("[email]", "[phone]", "Bearer [token]", "[secret]", "[redacted]"):
        assert label in out, (label, out)
    # The traceback is there (masked), not dropped.
    assert "ValueError: bad value for [email]: [secret]" in out, out
    if log_format == "console":
        ordinary = next(line for line in out.splitlines() if "ordinary" in line)
        assert "id=c5574e9c-d341-1158-fc21-2dad95e05ca" in ordinary
        assert "n=12345678" in ordinary
        return
    ordinary = json.loads(next(line for line in out.splitlines() if '"ordinary"' in line))
    assert ordinary["id"] == "c5574e9c-d341-1158-fc21-2dad95e05ca"
    assert ordinary["at"] == "2026-12-02T16:00:00Z" and ordinary["n"] == 12345678
