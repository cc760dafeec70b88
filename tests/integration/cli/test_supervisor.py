"""The supervisor of ``bytedash up`` on real child processes: small Python programs standing in
for the API, the worker and the projector, so order, restarts and kills are seen in seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest
from structlog.testing import capture_logs

from interfaces.supervisor import (
    ChildSpec,
    CrashLoopError,
    RestartPolicy,
    StopSignals,
    Supervisor,
)

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


def _records_its_stop(name: str, journal: Path, linger: float = 0.0) -> tuple[str, ...]:
    """A child that writes its name to `journal` when told to stop, lingers, then exits."""
    return _python(
        f"""
        import signal, sys, time
        def stop(signum, frame):
            with open({str(journal)!r}, "a") as f:
                f.write({name!r} + "\\n")
            time.sleep({linger})
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        with open({str(journal)!r} + ".up", "a") as f:
            f.write({name!r} + "\\n")
        while True:
            time.sleep(0.1)
        """
    )


def _stop_after(signals: StopSignals, condition: object, timeout: float = 20) -> threading.Thread:
    def wait_then_stop() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not condition():  # type: ignore[operator]
            time.sleep(0.05)
        signals.stop.set()

    thread = threading.Thread(target=wait_then_stop, daemon=True)
    thread.start()
    return thread


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_children_stop_by_stage_api_first_then_workers_then_projector(tmp_path: Path) -> None:
    journal = tmp_path / "stopped"
    specs = [
        ChildSpec("worker", _records_its_stop("worker", journal, linger=0.5), 1, 10),
        ChildSpec("projector", _records_its_stop("projector", journal), 2, 10),
        ChildSpec("api", _records_its_stop("api", journal, linger=0.5), 0, 10),
    ]
    signals = StopSignals()
    supervisor = Supervisor(specs, os.environ, signals, poll=0.05)
    started = Path(f"{journal}.up")
    _stop_after(signals, lambda: len(_lines(started)) == 3)

    with capture_logs() as logs:
        supervisor.run()

    starts = [entry["child"] for entry in logs if entry["event"] == "child.started"]
    assert starts == ["worker", "projector", "api"]
    # The worker is told to stop only once the API has exited, the projector after the worker.
    assert _lines(journal) == ["api", "worker", "projector"]
    for pid in supervisor.pids().values():
        assert pid is not None and not psutil.pid_exists(pid)


def test_a_child_that_dies_is_restarted_and_the_exit_is_logged(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    # Dies with exit code 3 on its first start, then stays up.
    child = _python(
        f"""
        import sys, time
        with open({str(marker)!r}, "a") as f:
            f.write("start\\n")
        if open({str(marker)!r}).read().count("start") == 1:
            sys.exit(3)
        while True:
            time.sleep(0.1)
        """
    )
    signals = StopSignals()
    supervisor = Supervisor(
        [ChildSpec("worker", child, 1, 5)],
        os.environ,
        signals,
        policy=RestartPolicy(first_delay=0.1),
        poll=0.05,
    )
    _stop_after(signals, lambda: len(_lines(marker)) == 2)

    with capture_logs() as logs:
        supervisor.run()

    assert len(_lines(marker)) == 2
    exited = [entry for entry in logs if entry["event"] == "child.exited"]
    restarted = [entry for entry in logs if entry["event"] == "child.restarted"]
    assert [(e["child"], e["exit_code"], e["restarts"]) for e in exited] == [("worker", 3, 0)]
    assert [(e["child"], e["restarts"]) for e in restarted] == [("worker", 1)]
    assert restarted[0]["pid"] != exited[0]["pid"]


def test_a_crash_loop_is_reported_and_stops_the_other_children(tmp_path: Path) -> None:
    survivor_started = tmp_path / "stopped.up"
    specs = [
        ChildSpec("worker", _python("raise SystemExit(7)"), 1, 5),
        ChildSpec("api", _records_its_stop("api", tmp_path / "stopped"), 0, 5),
    ]
    signals = StopSignals()
    supervisor = Supervisor(
        specs,
        os.environ,
        signals,
        policy=RestartPolicy(first_delay=0.05, max_delay=0.1, max_restarts=3),
        poll=0.05,
    )
    started = time.monotonic()
    with pytest.raises(CrashLoopError, match=r"worker process exited 4 times.*exit code 7"):
        supervisor.run()

    assert time.monotonic() - started < 15
    assert _lines(survivor_started) == ["api"]
    api_pid = supervisor.pids()["api"]
    assert api_pid is not None and not psutil.pid_exists(api_pid)


def test_a_child_that_ignores_the_stop_is_killed_after_its_timeout(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = _python(
        f"""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open({str(ready)!r}, "w").close()
        while True:
            time.sleep(0.1)
        """
    )
    signals = StopSignals()
    supervisor = Supervisor([ChildSpec("worker", stubborn, 1, 1.0)], os.environ, signals, poll=0.05)
    _stop_after(signals, ready.exists)

    began = time.monotonic()
    supervisor.run()

    assert time.monotonic() - began < 10
    pid = supervisor.pids()["worker"]
    assert pid is not None and not psutil.pid_exists(pid)


def test_children_go_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """Even SIGKILL of the supervisor (no chance to stop anything) takes its children along:
    they asked the kernel for SIGTERM on its death (die_with_supervisor)."""
    pid_file = tmp_path / "child.pid"
    child_code = (
        "from interfaces.supervisor import die_with_supervisor; die_with_supervisor(); "
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    supervisor_code = textwrap.dedent(
        f"""
        import os, sys
        from interfaces.supervisor import ChildSpec, StopSignals, Supervisor
        child = ChildSpec("worker", (sys.executable, "-c", {child_code!r}), 1, 5)
        Supervisor([child], os.environ, StopSignals()).run()
        """
    )
    supervisor = subprocess.Popen([sys.executable, "-c", supervisor_code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        child = psutil.Process(int(pid_file.read_text()))
        assert child.ppid() == supervisor.pid
    finally:
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()

    child.wait(timeout=10)
    assert not child.is_running()
