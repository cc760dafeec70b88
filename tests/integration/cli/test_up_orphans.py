"""No orphans: whatever kills ``bytedash up``, its embedded Postgres and Temporal go with it,
and servers a killed `up` still left on its folder are stopped by the next `up` before it
starts its own. One data folder, three `up`s one after the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from interfaces.embedded import free_port

pytestmark = pytest.mark.slow


def _env(data_dir: Path, port: int) -> dict[str, str]:
    drop = ("DATABASE_URL", "TEMPORAL_ADDRESS", "BYTEDASH_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(BYTEDASH_DATA_DIR=str(data_dir), API_PORT=str(port), LOG_FORMAT="json")
    return env


def _start(data_dir: Path, port: int, output: IO[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli", "up"],
        env=_env(data_dir, port),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bytedash up exited:\n{_read(output)}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"bytedash up did not become ready:\n{_read(output)}")


def _read(output: IO[str]) -> str:
    output.flush()
    output.seek(0)
    return output.read()


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _running(processes: list[psutil.Process]) -> list[str]:
    left = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return left


def _stack(up: subprocess.Popen[str], data_dir: Path) -> dict[str, list[psutil.Process]]:
    """The processes of one `up`, by role, the embedded Postgres (pg_ctl starts it detached,
    so it is nobody's child) included."""
    roles: dict[str, list[psutil.Process]] = {}
    for child in psutil.Process(up.pid).children():
        command = child.cmdline()
        if "interfaces.embedded" in command:
            role = "guardian"
        elif "interfaces.cli" in command:
            role = command[command.index("interfaces.cli") + 1]
        elif command and Path(command[0]).name == "temporal":
            role = "temporal"
        else:
            role = "other"
        roles.setdefault(role, []).append(child)
    postmaster_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(postmaster_pid)
    roles["postgres"] = [postmaster, *postmaster.children(recursive=True)]
    return roles


def _all(roles: dict[str, list[psutil.Process]]) -> list[psutil.Process]:
    return [proc for group in roles.values() for proc in group]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder outside pytest's temporary root: run as root, pgserver runs Postgres as its own
    user, who must reach the folder, and every pytest session (another one on the machine
    included) makes that root private again (0700) when it starts."""
    with tempfile.TemporaryDirectory(prefix="bytedash-orphans-", ignore_cleanup_errors=True) as d:
        yield Path(d)


def test_a_killed_up_leaves_no_server_and_the_next_up_stops_what_was_left(
    folder: Path,
) -> None:
    data_dir = folder / "data"
    port = free_port(19500)
    output = (folder / "up.out").open("w+")

    # 1. SIGKILL of `up`: no chance to stop anything itself. The kernel tells the children
    #    and Temporal; the guardian sees `up` gone and stops Postgres.
    first = _start(data_dir, port, output)
    roles = _stack(first, data_dir)
    assert sorted(roles) == ["api", "guardian", "postgres", "projector", "temporal", "worker"]
    first.kill()
    first.wait()
    _until(lambda: _running(_all(roles)) == [], 60, "every process of the killed up to exit")
    assert not (data_dir / "postgres" / "postmaster.pid").exists()

    # 2. The guardian killed too (kill -9 of everything Python, say): Temporal still dies
    #    with `up` (PR_SET_PDEATHSIG), Postgres is left behind...
    second = _start(data_dir, port, output)
    roles = _stack(second, data_dir)
    (guardian,) = roles["guardian"]
    guardian.kill()
    second.kill()
    second.wait()
    _until(
        lambda: _running([*roles["temporal"], *roles["worker"], *roles["api"]]) == [],
        60,
        "the children and Temporal of the killed up to exit",
    )
    (left,) = _running(roles["postgres"][:1])
    stale = roles["postgres"][0]

    # 3. ... and the next `up` on the folder stops it before starting its own, rather than
    #    leaving it running, or two servers on one folder.
    third = _start(data_dir, port, output)
    try:
        assert _running([stale]) == [], left
        now = _stack(third, data_dir)
        assert now["postgres"][0].pid != stale.pid
    finally:
        third.send_signal(signal.SIGINT)
        third.wait(90)
    assert third.returncode == 0, _read(output)
    assert _running(_all(now)) == []
    output.close()
