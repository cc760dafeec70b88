"""``bytedash api`` told to stop (SIGTERM) while requests wait on results: it exits within a few
seconds and answers them 202, not after their waits (a command waits up to 10 s for its
workflow's result) plus a graceful period plus the pool's close, which took 10-20 s or more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from interfaces.api.auth import issue_dev_token
from interfaces.embedded import free_port

pytestmark = pytest.mark.slow

SECRET = "api-stop-tests-secret-with-32-bytes-or-more"


def test_sigterm_stops_the_api_promptly_while_commands_wait_for_results(
    database_url: str, temporal_env: WorkflowEnvironment
) -> None:
    port = free_port(18950)
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        # No worker polls this queue: every command waits for a result that never comes.
        "TEMPORAL_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
        "AUTH_JWT_SECRET": SECRET,
        "API_PORT": str(port),
        "LOG_FORMAT": "json",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    token = issue_dev_token(SECRET, org="org_stop", role="admin", user="u1", ttl=600)
    headers = {"Authorization": f"Bearer {token}"}
    answers: list[int | str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)

        def command(n: int) -> None:
            try:
                answer = httpx.post(
                    f"{base}/api/v1/contacts",
                    json={"first_name": f"W{n}"},
                    headers={**headers, "Idempotency-Key": f"stop-{n}-{uuid.uuid4()}"},
                    timeout=30,
                )
                answers.append(answer.status_code)
            except httpx.HTTPError as e:
                answers.append(type(e).__name__)

        waiting = [threading.Thread(target=command, args=(n,), daemon=True) for n in range(6)]
        for thread in waiting:
            thread.start()
        time.sleep(1.5)  # all six are waiting on their workflows' results now
        began = time.monotonic()
        api.send_signal(signal.SIGTERM)
        api.wait(30)
        took = time.monotonic() - began
        for thread in waiting:
            thread.join(10)
    finally:
        if api.poll() is None:
            api.kill()
            api.wait()
    assert took < 6, f"the API took {took:.1f} s to stop"
    # Each waiting command was answered: accepted (it runs when a worker is back), not cut off.
    assert answers == [202] * 6
