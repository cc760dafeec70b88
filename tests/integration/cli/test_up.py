"""``bytedash up`` as a user runs it: an empty data folder, embedded Postgres and Temporal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interfaces.embedded import free_port

pytestmark = pytest.mark.slow


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "AUTH_JWT_SECRET", "BYTEDASH_ENV")
    }
    env.update(
        BYTEDASH_DATA_DIR=str(data_dir),
        API_PORT=str(port),
        LOG_FORMAT="json",
    )
    return env


def _bytedash(*args: str) -> list[str]:
    return [sys.executable, "-m", "interfaces.cli", *args]


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _bytedash("up"),
        env=_env(data_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(process: subprocess.Popen[str], base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"bytedash up exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("bytedash up did not become ready")


def _stop(process: subprocess.Popen[str], timeout: float = 60) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def _token(data_dir: Path, port: int) -> str:
    done = subprocess.run(
        _bytedash("token", "--org", "org_up", "--role", "admin", "--user", "u1"),
        env=_env(data_dir, port),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder


def test_up_serves_from_an_empty_folder_stops_on_ctrl_c_and_keeps_data(data_dir: Path) -> None:
    port = free_port(18000)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        second = subprocess.run(
            _bytedash("up"),
            env=_env(data_dir, free_port(18100)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr

        headers = {"Authorization": f"Bearer {_token(data_dir, port)}"}
        created = httpx.post(
            f"{base}/api/v1/contacts?wait=true",
            json={"first_name": "Ada", "email": "ada@example.com"},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]
    finally:
        if process.poll() is None:
            output = _stop(process)
    assert "Stopped." in output

    restarted = _start(data_dir, port)
    try:
        _wait_ready(restarted, base)
        headers = {"Authorization": f"Bearer {_token(data_dir, port)}"}
        fetched = httpx.get(f"{base}/api/v1/contacts/{contact_id}", headers=headers, timeout=10)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["email"] == "ada@example.com"
    finally:
        _stop(restarted)
