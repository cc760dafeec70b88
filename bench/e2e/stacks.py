"""Starting each side as its own processes, the way it is run.

The product: the ``bytedash up`` command, with DATABASE_URL and TEMPORAL_ADDRESS pointing at
the shared servers (so it starts no embedded ones), extra ``up`` flags passed through as given,
in a session of its own so that stopping it is a Ctrl-C to its whole process group, as a
terminal sends it. The hand-written service: ``python -m bench.e2e.handwritten`` as an API
process and a worker process (or one process running both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt

from bench.e2e.onboarding import Target, create_definition

ORG = "org_bench"
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
# Variables of the caller's shell that would change what either side is.
_PRODUCT_ENV = (
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TASK_QUEUE",
    "AUTH_JWT_SECRET",
    "AUTH_JWKS_URL",
    "WEBHOOK_SECRET_KEY",
    "SMTP_URL",
    "BYTEDASH_ENV",
    "BYTEDASH_DATA_DIR",
    "API_HOST",
    "API_PORT",
    "LOG_FORMAT",
)


@dataclass
class Running:
    """A side once up: how the client reaches it and which processes are its own."""

    target: Target
    database_url: str
    roots: list[int]  # the processes it started; their descendants are its too


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _PRODUCT_ENV}


def _wait_ready(base: str, processes: Sequence[subprocess.Popen[bytes]], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{what} exited with {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} was not ready within {READY_TIMEOUT:.0f} s")
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the process group the bench created for it; killed if it will not stop."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def bytedash_command() -> list[str]:
    """The installed ``bytedash`` command (beside this Python), else the module it runs."""
    beside = Path(sys.executable).parent / "bytedash"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("bytedash")
    return [found] if found else [sys.executable, "-m", "interfaces.cli"]


@contextlib.contextmanager
def product(
    database_url: str, temporal_address: str, port: int, up_args: Sequence[str], log: Path
) -> Iterator[Running]:
    cli = bytedash_command()
    with tempfile.TemporaryDirectory(prefix="bench-bytedash-") as data_dir:
        env = _clean_env()
        env.update(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=temporal_address,
            BYTEDASH_DATA_DIR=data_dir,
            API_PORT=str(port),
            LOG_FORMAT="json",
        )
        base = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            process = subprocess.Popen(
                # --verbose: the children's lines go to this bench's log, as they did before
                # `up` became quiet (its own log file lives in the data folder deleted below).
                [*cli, "up", "--verbose", *up_args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_ready(base, [process], f"bytedash up {' '.join(up_args)} (log: {log})")
            token = subprocess.run(
                [*cli, "token", "--org", ORG, "--role", "admin"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            definition_id, secret = asyncio.run(create_definition(base, token))
            yield Running(
                target=Target("product", base, token, definition_id, secret),
                database_url=database_url,
                roots=[process.pid],
            )
        finally:
            _stop(process)


@contextlib.contextmanager
def handwritten(
    database_url: str, temporal_address: str, port: int, processes: int, log: Path
) -> Iterator[Running]:
    """The hand-written service: `processes` 2 is an API process and a worker process, 1 is
    both in one process."""
    definition_id = str(uuid.uuid4())
    secret = "whsec_" + secrets.token_hex(32)
    jwt_secret = secrets.token_hex(32)
    env = _clean_env()
    env.update(
        HW_DATABASE_URL=database_url,
        HW_TEMPORAL_ADDRESS=temporal_address,
        HW_TASK_QUEUE=f"hand-written-{uuid.uuid4().hex[:8]}",
        HW_ORG=ORG,
        HW_DEFINITION_ID=definition_id,
        HW_WEBHOOK_SECRET=secret,
        HW_JWT_SECRET=jwt_secret,
        HW_PORT=str(port),
    )
    modes = ["both"] if processes == 1 else ["api", "worker"]
    started: list[subprocess.Popen[bytes]] = []
    base = f"http://127.0.0.1:{port}"
    try:
        with log.open("ab") as out:
            for mode in modes:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.e2e.handwritten", mode],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_ready(base, started, f"the hand-written service (log: {log})")
        now = int(time.time())
        token = jwt.encode(
            {"sub": "bench", "org_id": ORG, "iat": now, "exp": now + 24 * 3600},
            jwt_secret,
            algorithm="HS256",
        )
        yield Running(
            target=Target("hand-written", base, token, definition_id, secret),
            database_url=database_url,
            roots=[p.pid for p in started],
        )
    finally:
        for process in started:
            _stop(process)
