"""Child processes of ``bytedash up``: started in order, restarted when they die, stopped in order.

Separate OS processes rather than threads of one process: the API, the worker and the projector
all run Python code, and in one process they shared one GIL, which capped the whole product at
about one core. Each child is an ordinary ``bytedash`` command (``worker``, ``projector``,
``api``), so what ``up`` runs is exactly what a scaled-out deployment runs.

Each child gets its own session (and so its own process group): a Ctrl-C in the terminal then
reaches only the supervisor, which stops the children one stage at a time (the API stops taking
requests before the worker finishes its in-flight activities, the worker before the projector),
instead of every process starting its shutdown at once. The process group is also what is
killed when a child overstays its stop timeout, so the processes a child started (uvicorn's
workers) do not outlive it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

import structlog

log = structlog.get_logger(__name__)

# Set in every child's environment: the child asks the kernel for SIGTERM when this pid dies.
SUPERVISOR_PID_VARIABLE = "BYTEDASH_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The stack cannot run as asked; the message says why and what to do."""


class CrashLoopError(StackError):
    pass


@dataclass(frozen=True)
class ChildSpec:
    """One child process. Children of a lower ``stop_stage`` are stopped (and waited for)
    before those of a higher one; children of one stage stop in parallel."""

    name: str
    argv: tuple[str, ...]
    stop_stage: int
    stop_timeout: float = 30.0


@dataclass(frozen=True)
class RestartPolicy:
    """Back off between restarts; more than ``max_restarts`` exits within ``window`` seconds
    is a crash loop, reported rather than restarted forever."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    max_restarts: int = 5
    window: float = 60.0

    def delay(self, recent_exits: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, recent_exits - 1)))


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


class StopSignals:
    """SIGINT and SIGTERM as events: the first asks for an orderly stop, a second one to
    stop waiting for children and kill them."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.hurry = threading.Event()
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


class Supervisor:
    """Runs ``specs`` (started in list order) with ``env`` until ``signals.stop`` is set or a
    child crash-loops; then stops them by stage. ``announce`` is called once, the first time
    ``ready`` answers True; ``stopping`` once, when the stop begins (so the person who pressed
    Ctrl-C sees it taken, and how to hurry it)."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: Mapping[str, str],
        signals: StopSignals,
        *,
        ready: Callable[[], bool] = lambda: True,
        announce: Callable[[], None] = lambda: None,
        stopping: Callable[[], None] = lambda: None,
        policy: RestartPolicy | None = None,
        poll: float = 0.2,
        output: IO[bytes] | None = None,
        log_hint: str = "see its log above",
    ) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._env = {**env, SUPERVISOR_PID_VARIABLE: str(os.getpid())}
        self._signals = signals
        self._ready = ready
        self._announce = announce
        self._stopping = stopping
        self._policy = policy or RestartPolicy()
        self._poll = poll
        self._output = output  # the children's stdout and stderr (None: this process's)
        self._log_hint = log_hint

    def pids(self) -> dict[str, int | None]:
        return {child.spec.name: child.pid for child in self._children}

    def run(self) -> None:
        """Start, watch and stop; raises CrashLoopError after stopping the others."""
        try:
            for child in self._children:
                if self._signals.stop.is_set():
                    break
                self._start(child)
            announced = False
            while not self._signals.stop.wait(self._poll):
                self._watch()
                if not announced and self._ready():
                    announced = True
                    self._announce()
        finally:
            self._stop_all()

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(
            child.spec.argv,
            env=self._env,
            start_new_session=True,
            stdout=self._output,
            stderr=None if self._output is None else subprocess.STDOUT,
        )
        child.restart_at = None
        log.info("child.started", child=child.spec.name, pid=child.process.pid)

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                    log.warning(
                        "child.restarted",
                        child=child.spec.name,
                        pid=child.pid,
                        restarts=child.restarts,
                    )
                continue
            process = child.process
            if process is None or process.poll() is None:
                continue
            self._kill_group(process.pid)  # what the dead child started goes with it
            child.exits.append(now)
            while child.exits and child.exits[0] < now - self._policy.window:
                child.exits.popleft()
            recent = len(child.exits)
            how = describe_exit(process.returncode)
            if recent > self._policy.max_restarts:
                log.error(
                    "child.crash_loop",
                    child=child.spec.name,
                    pid=process.pid,
                    exit_code=process.returncode,
                    restarts=child.restarts,
                )
                raise CrashLoopError(
                    f"the {child.spec.name} process exited {recent} times within "
                    f"{self._policy.window:.0f} s (last: {how}); everything was stopped, "
                    f"{self._log_hint}"
                )
            delay = self._policy.delay(recent)
            log.warning(
                "child.exited",
                child=child.spec.name,
                pid=process.pid,
                exit_code=process.returncode,
                exit=how,
                restarts=child.restarts,
                restart_in_s=delay,
            )
            child.restart_at = now + delay

    def _stop_all(self) -> None:
        with contextlib.suppress(Exception):  # a failing message must not stop the stop
            self._stopping()
        for stage in sorted({child.spec.stop_stage for child in self._children}):
            running = [
                child
                for child in self._children
                if child.spec.stop_stage == stage
                and child.process is not None
                and child.process.poll() is None
            ]
            for child in running:
                assert child.process is not None
                log.info("child.stopping", child=child.spec.name, pid=child.process.pid)
                with contextlib.suppress(ProcessLookupError):
                    child.process.terminate()
            for child in running:
                self._wait_or_kill(child)
        for child in self._children:
            if child.process is not None:
                self._kill_group(child.process.pid)

    def _wait_or_kill(self, child: _Child) -> None:
        process = child.process
        assert process is not None
        deadline = time.monotonic() + child.spec.stop_timeout
        while process.poll() is None:
            if time.monotonic() >= deadline or self._signals.hurry.is_set():
                log.warning(
                    "child.killed",
                    child=child.spec.name,
                    pid=process.pid,
                    reason="second signal" if self._signals.hurry.is_set() else "stop timeout",
                    stop_timeout_s=child.spec.stop_timeout,
                )
                self._kill_group(process.pid)
                process.wait()
                break
            time.sleep(0.05)
        log.info("child.stopped", child=child.spec.name, pid=process.pid)
        self._kill_group(process.pid)

    @staticmethod
    def _kill_group(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")  # runs ldconfig: never between fork and exec
    if name is None:
        return None
    try:
        function: Callable[..., int] = ctypes.CDLL(name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return function


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux prctl
    ``PR_SET_PDEATHSIG``); False where that cannot be asked. As a ``preexec_fn`` (between fork
    and exec) call :func:`can_set_parent_death_signal` in the parent first."""
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0


def can_set_parent_death_signal() -> bool:
    """Whether :func:`set_parent_death_signal` can work here (and libc is loaded for it)."""
    return _prctl() is not None


def die_with_supervisor() -> None:
    """In a child of ``bytedash up``: have the kernel send SIGTERM when the supervisor dies,
    even by SIGKILL, so no worker or API outlives it holding the port and the database.
    Linux only (prctl); elsewhere a no-op."""
    # Popped: processes this child starts (uvicorn's workers) have another parent.
    expected = os.environ.pop(SUPERVISOR_PID_VARIABLE, None)
    if not expected:
        return
    if set_parent_death_signal(signal.SIGTERM) and str(os.getppid()) != expected:
        # The supervisor died before the request took effect.
        os.kill(os.getpid(), signal.SIGTERM)
