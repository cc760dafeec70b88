"""``bytedash up`` as a user runs it: an empty data folder, embedded Postgres and Temporal,
and the API, the worker(s) and the projector as separate processes under one supervisor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
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
        # The hanging-activity test's http_request calls a server on this machine, which the
        # worker refuses unless allowed (docs/operations.md, "Outbound calls").
        OUTBOUND_ALLOW="127.0.0.1/32",
    )
    return env


def _bytedash(*args: str) -> list[str]:
    return [sys.executable, "-m", "interfaces.cli", *args]


def _start(data_dir: Path, port: int, *options: str) -> subprocess.Popen[str]:
    # A file, not a pipe: five processes log into it, and nobody reads a pipe until the end.
    output = (data_dir.parent / f"up-{port}-{time.monotonic_ns()}.log").open("w+")
    process = subprocess.Popen(
        # --verbose: these tests read the children's and the supervisor's log lines.
        _bytedash("up", "--verbose", *options),
        env=_env(data_dir, port),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _OUTPUT[process.pid] = output
    return process


_OUTPUT: dict[int, Any] = {}


def _output(process: subprocess.Popen[str]) -> str:
    handle = _OUTPUT[process.pid]
    handle.flush()
    handle.seek(0)
    return str(handle.read())


def _logged(process: subprocess.Popen[str], event: str) -> list[dict[str, Any]]:
    entries = []
    for line in _output(process).splitlines():
        # Five processes write into one file: a line of one can follow a child's unfinished
        # line on the same row, so the JSON is looked for where it starts, not only at col 0.
        start = line.find("{")
        if start < 0 or f'"{event}"' not in line:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        if entry.get("event") == event:
            entries.append(entry)
    return entries


def _wait_ready(process: subprocess.Popen[str], base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"bytedash up exited with {process.returncode}:\n{_output(process)}"
            )
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("bytedash up did not become ready")


def _stop(process: subprocess.Popen[str], timeout: float = 60) -> str:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    output = _output(process)
    assert process.returncode == 0, output
    return output


def _roles(process: subprocess.Popen[str]) -> dict[str, list[Any]]:
    """The supervisor's children by role (`worker`, `projector`, `api`, `temporal`)."""
    roles: dict[str, list[Any]] = {}
    for child in psutil.Process(process.pid).children():
        try:
            with_args = child.cmdline()
        except psutil.Error:  # exited (a zombie until the supervisor notices): not running
            continue
        if not with_args:  # between fork and exec
            continue
        if "interfaces.embedded" in with_args:  # the guardian of the embedded servers
            role = "guardian"
        elif "interfaces.cli" in with_args:
            role = with_args[with_args.index("interfaces.cli") + 1]
        elif Path(with_args[0]).name == "temporal":
            role = "temporal"
        else:
            role = with_args[0]
        roles.setdefault(role, []).append(child)
    return roles


def _everything(process: subprocess.Popen[str], data_dir: Path) -> list[Any]:
    """Every process the stack runs: the supervisor's descendants and the embedded Postgres
    (pg_ctl starts it detached, so it is nobody's child)."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    return [
        *psutil.Process(process.pid).children(recursive=True),
        postmaster,
        *postmaster.children(recursive=True),
    ]


def _gone(processes: list[Any]) -> list[str]:
    left = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(proc.cmdline()))
        except psutil.NoSuchProcess:
            continue
    return left


def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _create_contact(base: str, headers: dict[str, str], email: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/contacts?wait=true",
        json={"first_name": "Ada", "email": email},
        headers=headers,
        timeout=30,
    )


def _token(data_dir: Path, port: int, *options: str) -> str:
    done = subprocess.run(
        _bytedash("token", "--org", "org_up", "--role", "admin", "--user", "u1", *options),
        env=_env(data_dir, port),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's temporary root: run as root, pgserver runs Postgres as its own user,
    who must reach the folder, and every pytest session starting on the machine makes that
    root private again (0700)."""
    with tempfile.TemporaryDirectory(prefix="bytedash-up-", ignore_cleanup_errors=True) as d:
        yield Path(d) / "data"


def test_up_serves_from_an_empty_folder_stops_on_ctrl_c_and_keeps_data(data_dir: Path) -> None:
    port = free_port(18000)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        roles = _roles(process)
        assert sorted(roles) == ["api", "guardian", "projector", "temporal", "worker"]
        pids = {process.pid, *(p.pid for group in roles.values() for p in group)}
        assert len(pids) == 6  # the supervisor, three children, Temporal and the guardian
        for child in (roles["api"][0], roles["worker"][0], roles["projector"][0]):
            assert os.getsid(child.pid) == child.pid  # its own session: no terminal Ctrl-C
        stack = _everything(process, data_dir)

        second = subprocess.run(
            _bytedash("up"),
            env=_env(data_dir, free_port(18100)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr

        # The only worker dies: it is restarted, logged, and the stack carries out a command.
        (killed,) = roles["worker"]
        killed.kill()
        _until(lambda: [p.pid for p in _roles(process).get("worker", [])] not in ([], [killed.pid]))
        # The supervisor's line reaches this test through a pipe and a reader thread: it may
        # arrive a moment after the restarted worker shows among the processes.
        _until(lambda: bool(_logged(process, "child.exited")))
        (exited,) = _logged(process, "child.exited")
        assert (exited["child"], exited["pid"]) == ("worker", killed.pid)
        assert (exited["exit_code"], exited["restarts"]) == (-signal.SIGKILL, 0)
        _until(lambda: len(_logged(process, "worker.started")) == 2)
        (restart,) = _logged(process, "child.restarted")
        assert (restart["child"], restart["restarts"]) == ("worker", 1)
        stack += _everything(process, data_dir)

        headers = {"Authorization": f"Bearer {_token(data_dir, port)}"}
        created = _create_contact(base, headers, "ada@example.com")
        assert created.status_code == 201, created.text
        contact_id = created.json()["id"]
    finally:
        if process.poll() is None:
            output = _stop(process)
    assert "Stopped." in output
    # One Ctrl-C: no child, no Temporal, no Postgres left behind; the API stopped first.
    assert _gone(stack) == []
    stopping = [entry["child"] for entry in _logged(process, "child.stopping")]
    assert stopping == ["api", "worker", "projector"]

    restarted = _start(data_dir, port)
    try:
        _wait_ready(restarted, base)
        headers = {"Authorization": f"Bearer {_token(data_dir, port)}"}
        fetched = httpx.get(f"{base}/api/v1/contacts/{contact_id}", headers=headers, timeout=10)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["email"] == "ada@example.com"
    finally:
        _stop(restarted)


def test_up_runs_more_worker_and_api_processes_and_restarts_the_one_killed(
    data_dir: Path,
) -> None:
    port = free_port(18200)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port, "--workers", "2", "--api-workers", "2")
    try:
        _wait_ready(process, base)
        roles = _roles(process)
        assert len(roles["worker"]) == 2
        assert len(roles["projector"]) == 1
        (api,) = roles["api"]
        servers = [p for p in api.children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(servers) == 2  # uvicorn's two worker processes
        stack = _everything(process, data_dir)

        killed = roles["worker"][0]
        killed.kill()
        _until(
            lambda: (
                len(_roles(process).get("worker", [])) == 2
                and killed.pid not in {p.pid for p in _roles(process)["worker"]}
            )
        )
        # The supervisor's line reaches this test through a pipe and a reader thread: it may
        # arrive a moment after the restarted worker shows among the processes.
        _until(lambda: bool(_logged(process, "child.exited")))
        (exited,) = _logged(process, "child.exited")
        assert exited["pid"] == killed.pid and exited["exit_code"] == -signal.SIGKILL
        assert exited["child"].startswith("worker-") and exited["restarts"] == 0
        _until(lambda: bool(_logged(process, "child.restarted")))
        assert _logged(process, "child.restarted")[0]["restarts"] == 1

        # The stack still carries out a command end to end after the restart.
        headers = {"Authorization": f"Bearer {_token(data_dir, port)}"}
        for n in range(4):
            created = _create_contact(base, headers, f"grace{n}@example.com")
            assert created.status_code == 201, created.text
        stack += _everything(process, data_dir)
    finally:
        if process.poll() is None:
            _stop(process)
    assert _gone(stack) == []


def test_a_split_projector_spreads_the_read_models_over_a_process_per_core_and_one_for_followers(
    data_dir: Path,
) -> None:
    port = free_port(18250)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port, "--split-projector")
    try:
        _wait_ready(process, base)
        onlys = [
            p.cmdline()[p.cmdline().index("--only") + 1].split(",")
            for p in _roles(process)["projector"]
        ]
        followers = ["triggers", "admin_requests", "chain"]
        assert followers in onlys
        groups = [group for group in onlys if group != followers]
        read_models = ["contacts", "definitions", "execution_stats", "executions", "tasks"]
        # Each read model in exactly one process, and a process per core (this machine's).
        assert sorted(name for group in groups for name in group) == read_models
        assert len(groups) == min(os.cpu_count() or 1, len(read_models))
        stack = _everything(process, data_dir)
        headers = {"Authorization": f"Bearer {_token(data_dir, port, '--operator')}"}
        created = _create_contact(base, headers, "split@example.com")
        assert created.status_code == 201, created.text  # the contacts process projected it

        def sealed() -> bool:  # the followers' process runs the sealer
            verified = httpx.get(f"{base}/api/v1/audit/verify", headers=headers, timeout=10)
            return bool(verified.json()["head"] >= 1 and verified.json()["unsealed"] == 0)

        _until(sealed)
    finally:
        if process.poll() is None:
            _stop(process)
    assert _gone(stack) == []


def test_up_refuses_a_worker_count_below_one(data_dir: Path) -> None:
    done = subprocess.run(
        _bytedash("up", "--workers", "0"),
        env=_env(data_dir, free_port(18300)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers: 0 is not between 1 and 64" in done.stderr
    assert not data_dir.exists()


# -- stopping whatever workflows are doing ---------------------------------------------------


class _Unanswering:
    """A local HTTP server that takes requests and never answers them (until closed): an
    `http_request` step calling it keeps its activity running for minutes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/slow"
        self.requests = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(conn)
            self.requests += 1

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for conn in self._held:
            conn.close()


HANGING_FLOW: dict[str, Any] = {
    "name": "Call a server that never answers",
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "call",
            "type": "http_request",
            "name": "Call",
            "config": {"method": "GET", "url": "", "timeout_seconds": 300, "retries": 10},
        },
    ],
}


def _hang_an_execution(base: str, headers: dict[str, str], server: _Unanswering) -> None:
    """An execution whose activity is in flight (and would be for minutes) when we stop."""
    flow = json.loads(json.dumps(HANGING_FLOW))
    flow["steps"][1]["config"]["url"] = server.url
    created = httpx.post(
        f"{base}/api/v1/definitions?wait=true", json=flow, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    definition = created.json()["id"]
    activated = httpx.post(
        f"{base}/api/v1/definitions/{definition}/activate?wait=true", headers=headers, timeout=30
    )
    assert activated.status_code == 200, activated.text
    started = httpx.post(
        f"{base}/api/v1/executions", json={"definition_id": definition}, headers=headers, timeout=30
    )
    assert started.status_code == 202, started.text
    _until(lambda: server.requests >= 1)


@pytest.fixture
def unanswering() -> Iterator[_Unanswering]:
    server = _Unanswering()
    yield server
    server.close()


def test_one_ctrl_c_stops_everything_in_bounded_time_while_an_activity_hangs(
    data_dir: Path, unanswering: _Unanswering
) -> None:
    port = free_port(18500)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        _hang_an_execution(base, {"Authorization": f"Bearer {_token(data_dir, port)}"}, unanswering)
        stack = _everything(process, data_dir)
        began = time.monotonic()
        output = _stop(process, timeout=90)
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
    # The worker cannot finish its activity: it is killed after its 15 s stop timeout, the
    # rest stops as usual (1-2 s each), not after the five minutes the activity could take.
    assert took < 30, output
    assert "Ctrl-C again to stop at once" in output
    assert _gone(stack) == []


def test_a_second_signal_stops_at_once_and_sigterm_stops_everything_too(
    data_dir: Path, unanswering: _Unanswering
) -> None:
    port = free_port(18600)
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        _hang_an_execution(base, {"Authorization": f"Bearer {_token(data_dir, port)}"}, unanswering)
        stack = _everything(process, data_dir)
        roles = _roles(process)
        (temporal,) = roles["temporal"]
        # A service manager's stop, then an impatient Ctrl-C once the API is gone.
        process.send_signal(signal.SIGTERM)
        _until(lambda: _gone(roles["api"]) == [], timeout=15)
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(30)
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, _output(process)
    # Not the worker's 15 s of grace: killed on the spot, and Temporal and Postgres with it.
    assert took < 8, _output(process)
    assert _gone([temporal]) == []
    assert _gone(stack) == []
    killed = {entry["child"]: entry["reason"] for entry in _logged(process, "child.killed")}
    assert killed["worker"] == "second signal"
    assert set(killed.values()) == {"second signal"}


def test_sigterm_during_start_up_leaves_no_server_running(data_dir: Path) -> None:
    port = free_port(18700)
    process = _start(data_dir, port)
    try:
        # Temporal is starting (or just started): its pid file is written as it is launched.
        _until(lambda: (data_dir / "temporal.pid").exists(), timeout=120)
        temporal = psutil.Process(int((data_dir / "temporal.pid").read_text().split()[0]))
        postmaster_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        postgres = psutil.Process(postmaster_pid)
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, _output(process)
    assert "Stopped." in _output(process)
    assert _gone([temporal, postgres]) == []
