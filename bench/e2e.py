"""Execution engine benchmark: ``python -m bench.e2e`` from the repo root.

Part 1, latency: starts the real ``bytedash up`` (embedded Postgres and Temporal dev server) in a
temporary folder, creates and activates the applicant onboarding definition of the templates
library (a ``form_submission`` trigger), then sends signed webhooks at a steady rate. Each
request is timed from its send until BOTH its execution (``GET /executions/{id}``) and its
review task (``GET /tasks?execution_id=``) are visible in the read API, each polled every few
milliseconds, requests overlapping as the rate demands. Prints p50/p99 of that, of the webhook's
own response, and of each half.

Part 2, throughput: in this process, on a Temporal dev server (``start_local``, in memory) and a
scratch database of the local Postgres, runs N applicant onboardings to completion through the
real worker (``worker.main.build_worker``): form payload → contact → in review → review task →
wait → a reviewer marks the task done with outcome ``approved`` through the real
TaskCommandWorkflow → condition → approved → welcome email (no SMTP_URL: recorded as not
delivered) → completed. The reviewer is one loop polling for newly assigned tasks, as a task list
would. Then the same N through a hand-written Temporal workflow doing the same steps with plain
SQL (bench/e2e_baseline.py: same activity kinds — recording steps local, the email and the task
command regular — and the same worker settings), at the same concurrency; the ratio of their
executions/s is the figure. Variants (skip them with ``--no-variants``): the interpreter with its
engine module passed through the sandbox, with local and then with regular recording activities
(RECORD_AS_LOCAL patched in this process only), and the hand-written workflow with regular
activities: what local activities save on both.

Each phase also runs a few executions one at a time (uncontended latency), and reports activity
time by type (a worker interceptor: queueing, inside the function, CPU), CPU seconds per
execution of this process, the Temporal server and the Postgres backends, what the backends wait
for (sampled), and the shape of one execution's Temporal history.

Options: ``--rate`` (webhooks/s, default 5), ``--requests`` (default 200), ``--poll-ms``
(default 5), ``--executions`` (default 100), ``--concurrency`` (executions in flight, default
20), ``--skip-latency``, ``--skip-throughput``, ``--no-variants``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import psycopg
import structlog
from psycopg_pool import ConnectionPool
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Worker,
)
from temporalio.worker import Interceptor as WorkerInterceptor
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker.main as worker_main
import worker.workflows.engine as engine_module
from application.bundle import build_services
from bench.common import line, machine, scratch_database
from bench.e2e_baseline import (
    BASELINE_REVIEW_WORKFLOW,
    BASELINE_WORKFLOW,
    BASELINE_WORKFLOWS,
    SCHEMA,
    BaselineActivities,
    baseline_workflow_id,
)
from domain.definition_library import APPLICANT_ONBOARDING
from domain.definition_validation import parse_definition
from interfaces.api.webhook_signing import sign
from interfaces.embedded import free_port
from worker.contracts import (
    EXECUTION_WORKFLOW,
    TASK_COMMAND_WORKFLOW,
    CommandMeta,
    CommandResult,
    ExecutionInput,
    ExecutionResult,
    TaskCommand,
    execution_workflow_id,
)
from worker.main import build_worker

ORG = "org_bench"
META = CommandMeta(org_id=ORG, actor="user:bench", source="bench", correlation_id="bench-e2e")
APPROVED = {"status": "done", "metadata": {"outcome": "approved"}}
READY_TIMEOUT = 120.0
VISIBLE_TIMEOUT = 60.0
EXECUTION_TIMEOUT = 120.0

Handle = WorkflowHandle[Any, Any]


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def applicant(n: int | str) -> dict[str, Any]:
    return {"first_name": f"Ada{n}", "last_name": "Lovelace", "email": f"ada{n}@example.com"}


# == part 1: webhook → visible in the read API ================================================


@dataclass
class LatencyReport:
    requests: int
    rate: float  # achieved sends per second
    visible: list[float] = field(default_factory=list)  # send → execution and task visible
    response: list[float] = field(default_factory=list)  # the webhook's 202 alone
    execution: list[float] = field(default_factory=list)  # send → execution visible
    task: list[float] = field(default_factory=list)  # send → task visible


def _stack_env(data_dir: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "AUTH_JWT_SECRET", "BYTEDASH_ENV")
    }
    env.update(BYTEDASH_DATA_DIR=data_dir, API_PORT=str(port), LOG_FORMAT="json")
    return env


@contextlib.contextmanager
def bytedash_up() -> Iterator[tuple[str, str]]:
    """The real ``bytedash up`` in a temporary folder: yields its base URL and an admin token."""
    port = free_port(18500)
    base = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "interfaces.cli"]
    with tempfile.TemporaryDirectory(prefix="bytedash-e2e-") as data_dir:
        env = _stack_env(data_dir, port)
        process = subprocess.Popen(
            [*cli, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("bytedash up did not become ready")
                time.sleep(0.5)
            token = subprocess.run(
                [*cli, "token", "--org", ORG, "--role", "admin"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            yield base, token
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _definition(client: httpx.AsyncClient) -> tuple[str, str]:
    """Create and activate the onboarding definition; its id and webhook secret."""
    created = await client.post("/api/v1/definitions?wait=true", json=APPLICANT_ONBOARDING)
    assert created.status_code == 201, created.text
    body = created.json()
    activated = await client.post(f"/api/v1/definitions/{body['id']}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return str(body["id"]), str(body["webhook_secret"])


async def _until_visible(
    client: httpx.AsyncClient, path: str, check: Callable[[Any], bool], poll: float
) -> float:
    deadline = time.perf_counter() + VISIBLE_TIMEOUT
    while True:
        response = await client.get(path)
        if response.status_code == 200 and check(response.json()):
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise AssertionError(f"{path} not visible after {VISIBLE_TIMEOUT} s: {response.text}")
        await asyncio.sleep(poll)


async def _webhook_load(base: str, token: str, args: argparse.Namespace) -> LatencyReport:
    poll = args.poll_ms / 1000
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=30, limits=limits
    ) as client:
        definition_id, secret = await _definition(client)
        url = f"/webhooks/{definition_id}"
        run = uuid.uuid4().hex[:8]

        async def one(n: int | str) -> tuple[float, float, float, float]:
            body = json.dumps(applicant(n)).encode()
            signed = {
                "X-Byte-Signature": sign(secret, int(time.time()), body),
                "X-Byte-Delivery": f"bench-{run}-{n}",
                "Content-Type": "application/json",
            }
            sent = time.perf_counter()
            response = await client.post(url, content=body, headers=signed)
            answered = time.perf_counter()
            assert response.status_code == 202, response.text
            execution_id = response.json()["id"]
            execution, task = await asyncio.gather(
                _until_visible(client, f"/api/v1/executions/{execution_id}", bool, poll),
                _until_visible(
                    client,
                    f"/api/v1/tasks?execution_id={execution_id}",
                    lambda page: bool(page["items"]),
                    poll,
                ),
            )
            return (
                max(execution, task) - sent,
                answered - sent,
                execution - sent,
                task - sent,
            )

        for n in range(args.warmup):  # connections, prepared statements, the sandbox's imports
            await one(f"warm{n}")
        loop = asyncio.get_running_loop()
        begun = loop.time()
        pending = []
        for n in range(args.requests):
            await asyncio.sleep(max(0.0, begun + n / args.rate - loop.time()))
            pending.append(asyncio.create_task(one(n)))
        sending = loop.time() - begun
        results = await asyncio.gather(*pending)
    report = LatencyReport(
        requests=args.requests,
        rate=(args.requests - 1) / sending if sending > 0 else float("nan"),
    )
    for visible, response, execution, task in results:
        report.visible.append(visible)
        report.response.append(response)
        report.execution.append(execution)
        report.task.append(task)
    return report


def run_latency(args: argparse.Namespace) -> LatencyReport:
    with bytedash_up() as (base, token):
        return asyncio.run(_webhook_load(base, token, args))


# == part 2: onboardings per second, interpreter vs hand-written ==============================


@dataclass
class ActivityTimes:
    """Seconds per call: from the worker taking it to its answer (thread-pool queueing
    included), inside the function, and CPU of the thread inside the function."""

    total: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


class ActivityTimer(ClientInterceptor, WorkerInterceptor):
    """Times every activity by type, local or regular. Given to the client, it reaches every
    worker built on that client, build_worker's too."""

    def __init__(self) -> None:
        self.times: dict[str, ActivityTimes] = defaultdict(ActivityTimes)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next, self)

    def take(self) -> dict[str, ActivityTimes]:
        """The times so far, and start afresh."""
        times, self.times = dict(self.times), defaultdict(ActivityTimes)
        return times


class _TimedActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, timer: ActivityTimer) -> None:
        super().__init__(next)
        self._timer = timer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        times = self._timer.times[
            f"{info.activity_type} ({'local' if info.is_local else 'regular'})"
        ]
        fn = input.fn

        def measured(*args: Any) -> Any:  # a sync activity: runs on the worker's thread pool
            began, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args)
            finally:
                times.cpu.append(time.thread_time() - cpu)
                times.inside.append(time.perf_counter() - began)

        start = time.perf_counter()
        try:
            return await super().execute_activity(dataclasses.replace(input, fn=measured))
        finally:
            times.total.append(time.perf_counter() - start)


_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None if gone or unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent over a phase by this process (worker, activities, the bench's own
    driver), the Temporal dev server (our child) and the Postgres backends of the database."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._start: dict[str, dict[int, float]] = {}

    def _postgres_pids(self) -> list[int]:
        with psycopg.connect(self._url) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchall()
        return [int(r[0]) for r in rows]

    def _read(self) -> dict[str, dict[int, float]]:
        groups = {"temporal": _children(os.getpid()), "postgres": self._postgres_pids()}
        read: dict[str, dict[int, float]] = {"worker": {0: time.process_time()}}
        for name, pids in groups.items():
            read[name] = {pid: cpu for pid in pids if (cpu := _proc_cpu(pid)) is not None}
        return read

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        spent: dict[str, float] = {}
        for name, now in end.items():
            before = self._start.get(name, {})
            spent[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
        return spent


class BackendSampler:
    """Samples the database's backends every few milliseconds: how many are running a query,
    and what the waiting ones wait for (``Lock:relation`` is the event store's EXCLUSIVE table
    lock, ``Lock:object`` the NOTIFY queue at commit, ``IO:WALSync`` a commit's flush)."""

    def __init__(self, url: str, interval: float = 0.02) -> None:
        self._url = url
        self._interval = interval
        self.samples = 0
        self.active = 0
        self.waits: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            while not stop.is_set():
                cursor = await conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND state = 'active'"
                )
                rows = await cursor.fetchall()
                self.samples += 1
                self.active += len(rows)
                for _, kind, event in rows:
                    if kind is not None and kind != "Client":
                        self.waits[f"{kind}:{event}"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)

    def mean(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


@dataclass
class HistoryShape:
    """One execution's Temporal history (mean over a few), and its reviewer's workflow."""

    events: float
    workflow_tasks: float
    activities: float  # regular activities scheduled
    markers: float  # local activities recorded
    signals: float
    wft_ms: float  # mean workflow task started → completed (local activities run inside it)
    review_events: float


@dataclass
class Phase:
    label: str
    executions: int
    seconds: float
    activities: dict[str, ActivityTimes]
    cpu: dict[str, float]
    history: HistoryShape
    active_backends: float  # mean over the run
    waits: dict[str, float]  # mean backends waiting, by wait event
    alone: list[float]  # latency of each execution run one at a time
    alone_activities: dict[str, ActivityTimes]

    @property
    def rate(self) -> float:
        return self.executions / self.seconds


async def _history_shape(client: Client, executions: list[str], reviews: list[str]) -> HistoryShape:
    counts: Counter[str] = Counter()
    wft: list[float] = []
    for workflow_id in executions:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        started: float | None = None
        for event in history.events:
            kind = EventType.Name(event.event_type)
            counts["events"] += 1
            stamp = event.event_time.seconds + event.event_time.nanos / 1e9
            if kind == "EVENT_TYPE_WORKFLOW_TASK_STARTED":
                started = stamp
            elif kind == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED":
                counts["workflow_tasks"] += 1
                if started is not None:
                    wft.append(stamp - started)
            elif kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
                counts["activities"] += 1
            elif kind == "EVENT_TYPE_MARKER_RECORDED":
                counts["markers"] += 1
            elif kind == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED":
                counts["signals"] += 1
    for workflow_id in reviews:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts["review_events"] += len(history.events)
    n, r = max(1, len(executions)), max(1, len(reviews))
    return HistoryShape(
        events=counts["events"] / n,
        workflow_tasks=counts["workflow_tasks"] / n,
        activities=counts["activities"] / n,
        markers=counts["markers"] / n,
        signals=counts["signals"] / n,
        wft_ms=statistics.fmean(wft) * 1000 if wft else 0.0,
        review_events=counts["review_events"] / r,
    )


class Reviewer:
    """Polls for newly assigned tasks (one query, as a task list would) and marks each done with
    outcome approved through `complete`; keeps the ids of the workflows it started."""

    def __init__(
        self,
        url: str,
        query: str,
        complete: Callable[[str], Coroutine[Any, Any, str]],
        interval: float = 0.01,
    ) -> None:
        self._url = url
        self._query = query
        self._complete = complete
        self._interval = interval
        self.workflow_ids: list[str] = []
        self._running: set[asyncio.Task[str]] = set()
        self._errors: list[BaseException] = []

    def _done(self, task: asyncio.Task[str]) -> None:
        self._running.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            self._errors.append(task.exception())  # type: ignore[arg-type]
        else:
            self.workflow_ids.append(task.result())

    async def run(self, stop: asyncio.Event) -> None:
        last = 0
        seen: set[Any] = set()
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            while not stop.is_set():
                params = (last,) if "%s" in self._query else ()
                rows = await (await conn.execute(self._query.encode(), params)).fetchall()
                for position, task_id in rows:
                    last = max(last, int(position))
                    if task_id in seen:
                        continue
                    seen.add(task_id)
                    task = asyncio.create_task(self._complete(str(task_id)))
                    self._running.add(task)
                    task.add_done_callback(self._done)
                if self._errors:
                    raise self._errors[0]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._errors:
            raise self._errors[0]


async def _drive(
    n: int,
    concurrency: int,
    start: Callable[[int], Awaitable[Handle]],
    check: Callable[[Any], None],
) -> tuple[float, list[str], list[float]]:
    """Run `n` executions, `concurrency` at a time, to completion: seconds in all, workflow ids,
    and each execution's latency from its start to its result."""
    gate = asyncio.Semaphore(concurrency)
    ids: list[str] = []
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            handle = await start(i)
            ids.append(handle.id)
            check(await asyncio.wait_for(handle.result(), EXECUTION_TIMEOUT))
            latencies.append(time.perf_counter() - began)

    begun = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - begun, ids, latencies


@dataclass
class Flavour:
    """How to start one execution of a phase, check its result and complete its task."""

    label: str
    start: Callable[[int], Awaitable[Handle]]
    check: Callable[[Any], None]
    complete: Callable[[str], Coroutine[Any, Any, str]]
    # (position, task id) of newly assigned tasks; a %s placeholder gets the last position seen
    tasks_query: str


async def _phase(
    flavour: Flavour,
    worker: Worker,
    client: Client,
    url: str,
    timer: ActivityTimer,
    args: argparse.Namespace,
) -> Phase:
    """Warm up, run a few executions one at a time (the uncontended figures), then the N."""
    meter = CpuMeter(url)
    reviewer = Reviewer(url, flavour.tasks_query, flavour.complete)
    sampler = BackendSampler(url)
    stop, stop_sampling = asyncio.Event(), asyncio.Event()
    async with worker:
        reviewing = asyncio.create_task(reviewer.run(stop))
        try:
            await _drive(args.warmup_executions, args.concurrency, flavour.start, flavour.check)
            timer.take()
            _, _, alone = await _drive(args.alone, 1, flavour.start, flavour.check)
            alone_activities = timer.take()
            reviews_before = len(reviewer.workflow_ids)
            sampling = asyncio.create_task(sampler.run(stop_sampling))
            meter.start()
            seconds, ids, _ = await _drive(
                args.executions, args.concurrency, flavour.start, flavour.check
            )
            cpu = meter.stop()
            stop_sampling.set()
            await sampling
            activities = timer.take()
        finally:
            stop.set()
            stop_sampling.set()
            await reviewing
    sample = ids[len(ids) // 2 : len(ids) // 2 + 5]
    reviews = reviewer.workflow_ids[reviews_before:][:5]
    history = await _history_shape(client, sample, reviews)
    return Phase(
        label=flavour.label,
        executions=args.executions,
        seconds=seconds,
        activities=activities,
        cpu=cpu,
        history=history,
        active_backends=sampler.mean(sampler.active),
        waits={name: sampler.mean(count) for name, count in sampler.waits.most_common(3)},
        alone=alone,
        alone_activities=alone_activities,
    )


def _interpreter(client: Client, queue: str, label: str) -> Flavour:
    body = parse_definition(APPLICANT_ONBOARDING).to_dict()
    definition_id = str(uuid.uuid4())

    async def start(i: int) -> Handle:
        execution_id = str(uuid.uuid4())
        handle: Handle = await client.start_workflow(
            EXECUTION_WORKFLOW,
            ExecutionInput(
                meta=META,
                execution_id=execution_id,
                definition_id=definition_id,
                definition_version=1,
                definition=body,
                payload=applicant(i),
                trigger={"type": "form_submission", "delivery": f"bench-{execution_id}"},
            ),
            id=execution_workflow_id(execution_id),
            task_queue=queue,
            result_type=ExecutionResult,
        )
        return handle

    def check(result: ExecutionResult) -> None:
        assert (result.status, result.ui_status) == ("completed", "approved"), result

    async def complete(task_id: str) -> str:
        workflow_id = f"task-update-{task_id}-{uuid.uuid4()}"
        await client.execute_workflow(
            TASK_COMMAND_WORKFLOW,
            TaskCommand(meta=META, action="update", task_id=task_id, changes=APPROVED),
            id=workflow_id,
            task_queue=queue,
            result_type=CommandResult,
        )
        return workflow_id

    query = (
        "SELECT position, originator_id FROM events WHERE event_type = 'Task.Assigned'"
        " AND position > %s ORDER BY position"
    )
    return Flavour(label, start, check, complete, query)


def _hand_written(client: Client, queue: str, label: str, *, local: bool) -> Flavour:
    definition_id = str(uuid.uuid4())

    async def start(i: int) -> Handle:
        execution_id = str(uuid.uuid4())
        order = {
            "org_id": ORG,
            "execution_id": execution_id,
            "definition_id": definition_id,
            "payload": applicant(i),
            "local": local,
        }
        handle: Handle = await client.start_workflow(
            BASELINE_WORKFLOW, order, id=baseline_workflow_id(execution_id), task_queue=queue
        )
        return handle

    def check(result: dict[str, Any]) -> None:
        assert (result["status"], result["ui_status"]) == ("completed", "approved"), result

    async def complete(task_id: str) -> str:
        workflow_id = f"hw-review-{task_id}-{uuid.uuid4()}"
        await client.execute_workflow(
            BASELINE_REVIEW_WORKFLOW,
            {"task_id": task_id, "outcome": "approved"},
            id=workflow_id,
            task_queue=queue,
        )
        return workflow_id

    # Not "seq > last": identity values are taken at INSERT, not in commit order, so a
    # follower by seq can skip a row that commits late (the event store's table lock is
    # what spares the interpreter's query that problem). Open tasks, minus those handled.
    query = "SELECT seq, id FROM hw_tasks WHERE status = 'todo' ORDER BY seq"
    return Flavour(label, start, check, complete, query)


def _baseline_worker(client: Client, pool: ConnectionPool, queue: str) -> Worker:
    """The settings of worker.main.build_worker, with the hand-written workflow."""
    activities = BaselineActivities(pool)
    return Worker(
        client,
        task_queue=queue,
        workflows=BASELINE_WORKFLOWS,
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity"),
        max_concurrent_activities=16,
        max_concurrent_local_activities=16,
        max_cached_workflows=1000,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=10),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


@contextlib.contextmanager
def engine_passed_through(record_as_local: bool) -> Iterator[None]:
    """build_worker's worker with worker.workflows.engine passed through the sandbox (one copy,
    this process's), so that patching RECORD_AS_LOCAL here reaches the workflow. Nothing in
    the product changes; the patch ends with the block."""
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("worker.workflows.engine")
    )
    with (
        mock.patch.object(worker_main, "Worker", functools.partial(Worker, workflow_runner=runner)),
        mock.patch.object(engine_module, "RECORD_AS_LOCAL", record_as_local),
    ):
        yield


@contextlib.asynccontextmanager
async def temporal_dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def run_throughput(args: argparse.Namespace) -> list[Phase]:
    phases: list[Phase] = []
    with scratch_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA.encode())
        async with temporal_dev_server() as env:
            timer = ActivityTimer()
            config = env.client.config()
            config["interceptors"] = [timer]
            client = Client(**config)
            services = build_services(url, pool_size=8)
            try:
                queue = f"e2e-{uuid.uuid4().hex[:8]}"
                flavour = _interpreter(client, queue, "interpreter (real worker)")
                worker = build_worker(client, services, queue)
                phases.append(await _phase(flavour, worker, client, url, timer, args))
                _report_phase(phases[-1])
                if not args.no_variants:
                    for local in (True, False):
                        queue = f"e2e-{uuid.uuid4().hex[:8]}"
                        kind = "local" if local else "regular"
                        label = f"interpreter, engine passed through, {kind} recording"
                        with engine_passed_through(local):
                            worker = build_worker(client, services, queue)
                            flavour = _interpreter(client, queue, label)
                            phases.append(await _phase(flavour, worker, client, url, timer, args))
                        _report_phase(phases[-1])
            finally:
                services.close()
            with ConnectionPool(url, min_size=8, max_size=8, open=True) as pool:
                for local in (True, False) if not args.no_variants else (True,):
                    queue = f"hw-{uuid.uuid4().hex[:8]}"
                    kind = "local" if local else "regular"
                    label = f"hand-written, {kind} recording activities"
                    flavour = _hand_written(client, queue, label, local=local)
                    worker = _baseline_worker(client, pool, queue)
                    phases.append(await _phase(flavour, worker, client, url, timer, args))
                    _report_phase(phases[-1])
    return phases


# == output ===================================================================================


def _ms(samples: Sequence[float]) -> str:
    p50, p99 = percentiles(samples)
    return f"p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"


def _report_latency(report: LatencyReport, args: argparse.Namespace) -> None:
    print(
        f"webhook → execution and task visible: {report.requests} signed webhooks at "
        f"{report.rate:.1f}/s (asked {args.rate}/s), polls every {args.poll_ms:g} ms",
        flush=True,
    )
    line("send → execution AND task visible", _ms(report.visible))
    line("webhook response alone (202)", _ms(report.response))
    line("send → execution visible (GET /executions/{id})", _ms(report.execution))
    line("send → task visible (GET /tasks?execution_id=)", _ms(report.task))


def _per_execution(times: dict[str, ActivityTimes], n: int) -> str:
    total = sum(sum(t.total) for t in times.values()) / n * 1000
    inside = sum(sum(t.inside) for t in times.values()) / n * 1000
    cpu = sum(sum(t.cpu) for t in times.values()) / n * 1000
    return f"{total:.0f} ms (inside the functions {inside:.0f} ms, their CPU {cpu:.0f} ms)"


def _report_phase(phase: Phase) -> None:
    n = phase.executions
    print(f"{phase.label}: {n} onboardings", flush=True)
    line("wall time, executions/s", f"{phase.seconds:.2f} s, {phase.rate:.2f}/s")
    cpu = phase.cpu
    line(
        "CPU ms per execution: worker / Temporal / Postgres",
        f"{cpu.get('worker', 0) / n * 1000:.0f} / {cpu.get('temporal', 0) / n * 1000:.0f} / "
        f"{cpu.get('postgres', 0) / n * 1000:.0f}"
        f" (worker process busy {cpu.get('worker', 0) / phase.seconds:.2f} cores)",
    )
    waits = ", ".join(f"{name} {mean:.2f}" for name, mean in phase.waits.items())
    line(
        "Postgres backends running a query, mean",
        f"{phase.active_backends:.2f}, of which waiting: {waits or 'none'}",
    )
    h = phase.history
    line(
        "history: events, workflow tasks, activities, markers",
        f"{h.events:.0f}, {h.workflow_tasks:.1f}, {h.activities:.0f}, {h.markers:.0f}"
        f" (+{h.review_events:.0f} events for the task command)",
    )
    line("workflow task started → completed, mean", f"{h.wft_ms:.1f} ms")
    line("activity time per execution", _per_execution(phase.activities, n))
    for name, t in sorted(phase.activities.items(), key=lambda kv: -sum(kv[1].total)):
        line(
            f"  {name}",
            f"{len(t.total) / n:.0f}/execution, mean {statistics.fmean(t.total) * 1000:.1f} ms"
            f" (inside {statistics.fmean(t.inside) * 1000:.1f}, CPU "
            f"{statistics.fmean(t.cpu) * 1000:.1f})",
        )
    alone = len(phase.alone)
    if alone:
        line(
            f"one at a time ({alone}): execution latency p50",
            f"{statistics.median(phase.alone) * 1000:.0f} ms",
        )
        line("  activity time per execution", _per_execution(phase.alone_activities, alone))


def _summary(latency: LatencyReport | None, phases: list[Phase]) -> str:
    parts = []
    if latency is not None:
        p50, p99 = percentiles(latency.visible)
        parts.append(
            f"webhook → execution+task visible p50 {p50:.0f} ms, p99 {p99:.0f} ms at "
            f"{latency.rate:.1f}/s (aim p50 <= 150 ms: {'met' if p50 <= 150 else 'missed'})"
        )
    by_label = {p.label: p for p in phases}
    ours = phases[0] if phases else None
    theirs = by_label.get("hand-written, local recording activities")
    if ours is not None and theirs is not None:
        ratio = theirs.rate / ours.rate
        parts.append(
            f"onboardings {ours.rate:.1f}/s interpreter vs {theirs.rate:.1f}/s hand-written: "
            f"{ratio:.2f}x (aim <= 1.3x: {'met' if ratio <= 1.3 else 'missed'})"
        )
    regular = by_label.get("interpreter, engine passed through, regular recording")
    control = by_label.get("interpreter, engine passed through, local recording")
    if regular is not None and control is not None:
        parts.append(f"local recording activities {control.rate / regular.rate:.2f}x regular")
    return "summary: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5.0, help="webhooks per second")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10, help="webhooks before timing")
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--warmup-executions", type=int, default=5)
    parser.add_argument("--alone", type=int, default=5, help="executions run one at a time")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--no-variants", action="store_true", help="only the interpreter and the hand-written"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("temporalio").setLevel(logging.ERROR)

    print(f"bench/e2e.py on {machine()}", flush=True)
    latency = None
    if not args.skip_latency:
        latency = run_latency(args)
        _report_latency(latency, args)
    phases: list[Phase] = []
    if not args.skip_throughput:
        print(
            f"onboardings per second: {args.executions} each, {args.concurrency} in flight, "
            f"after {args.warmup_executions} warm-up; Temporal dev server in memory",
            flush=True,
        )
        phases = asyncio.run(run_throughput(args))
        if len(phases) >= 2:
            print("executions/s relative to the interpreter (real worker)", flush=True)
            for phase in phases[1:]:
                line(f"  {phase.label}", f"{phase.rate / phases[0].rate:.2f}x")
    print(_summary(latency, phases), flush=True)


if __name__ == "__main__":
    main()
