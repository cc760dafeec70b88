"""A whole Byte Dashboard stack the fault suite may break: its own embedded Postgres and Temporal
in a temporary folder (never the machine's shared Postgres), and ``bytedash up`` supervising the
worker, the projector and the API against them, exactly as an operator runs it with
``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` set.

The servers belong to the test, not to ``up``, so that they can be stopped, killed and started
again under the running processes; ``up`` restarts a child that is killed, as in production.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from interfaces.embedded import EmbeddedPostgres, EmbeddedTemporal, free_port
from migrations import apply_migrations

ROOT = Path(__file__).resolve().parents[3]


def bytedash(*args: str) -> list[str]:
    return [sys.executable, "-m", "interfaces.cli", *args]


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


class FaultStack:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(folder / "servers")
        self.temporal = EmbeddedTemporal(
            folder / "servers", port=free_port(17433), ui_port=free_port(18433)
        )
        self.port = free_port(18800)
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = ""
        self.up: subprocess.Popen[str] | None = None
        self._log = (folder / "up.log").open("w+")

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        self.database_url = self.postgres.start()
        apply_migrations(self.database_url)
        self.temporal.start()
        self.up = subprocess.Popen(
            bytedash("up"),
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self.wait_ready(120)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("AUTH_JWT_SECRET", "BYTEDASH_ENV", "AUTH_JWKS_URL")
        }
        env.update(
            BYTEDASH_DATA_DIR=str(self.folder / "up"),
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal.address,
            API_PORT=str(self.port),
            LOG_FORMAT="json",
        )
        return env

    def close(self) -> None:
        if self.up is not None and self.up.poll() is None:
            self.up.send_signal(signal.SIGINT)
            try:
                self.up.wait(60)
            except subprocess.TimeoutExpired:
                self.up.kill()
                self.up.wait()
        self.temporal.stop()
        self.postgres.stop()
        self._log.close()

    def wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            assert self.up is not None
            if self.up.poll() is not None:
                raise AssertionError(f"bytedash up exited:\n{self.output()[-5000:]}")
            try:
                return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        until(ready, timeout, "the API to be ready")

    def token(self, org: str) -> str:
        done = subprocess.run(
            bytedash("token", "--org", org, "--role", "admin", "--user", "fault-client"),
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return done.stdout.strip()

    # -- faults ---------------------------------------------------------------------------

    def child(self, role: str) -> psutil.Process:
        """The running ``bytedash <role>`` child of ``up``."""
        assert self.up is not None
        for proc in psutil.Process(self.up.pid).children():
            try:
                args = proc.cmdline()
            except psutil.Error:
                continue
            if "interfaces.cli" in args and args[args.index("interfaces.cli") + 1] == role:
                return proc
        raise AssertionError(f"no {role} process is running")

    def kill_child(self, role: str) -> int:
        """SIGKILL the child and wait until ``up`` has started another; its new pid."""
        killed = self.child(role)
        killed.send_signal(signal.SIGKILL)

        def replaced() -> bool:
            try:
                return bool(self.child(role).pid != killed.pid)
            except AssertionError:
                return False

        until(replaced, 30, f"up to restart the {role}")
        return int(self.child(role).pid)

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        url = self.postgres.start()
        assert url == self.database_url, "the restarted Postgres has another address"

    def kill_temporal(self) -> None:
        pid = self.temporal.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.temporal.stop()  # reaps it

    def start_temporal(self) -> None:
        before = self.temporal.address
        self.temporal.start()
        assert self.temporal.address == before, "the restarted Temporal has another address"

    # -- what up said ---------------------------------------------------------------------

    def output(self) -> str:
        self._log.flush()
        return (self.folder / "up.log").read_text()

    def logged(self, event: str) -> list[dict[str, Any]]:
        entries = []
        for line in self.output().splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                with_event = json.loads(line)
                if with_event.get("event") == event:
                    entries.append(with_event)
        return entries
