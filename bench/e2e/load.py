"""The two loads, the same for either side.

Latency: signed webhooks at a steady rate (requests overlap as the rate demands); each is timed
from its send until both its execution and its review task are visible in the read API, polled
at a short fixed interval.

Throughput: whole onboardings, a fixed number in flight: webhook, review task visible, the task
completed with outcome approved, execution completed (ui_status approved) visible. Polling
grows from a short interval to a cap, so that twenty clients waiting do not become much of the
work measured. CPU of every process of the side (see cpu.py) is read around it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from bench.e2e.cpu import CpuMeter
from bench.e2e.onboarding import Polling, Session
from bench.e2e.sampler import BackendSampler


@dataclass
class Latency:
    rate: float  # achieved sends per second
    visible: list[float] = field(default_factory=list)  # send → execution and task visible
    response: list[float] = field(default_factory=list)  # the webhook's 202 alone
    execution: list[float] = field(default_factory=list)  # send → execution visible
    task: list[float] = field(default_factory=list)  # send → task visible


@dataclass
class Throughput:
    onboardings: int
    seconds: float
    cpu: dict[str, float]  # CPU seconds by group: app, temporal, postgres
    roles: dict[str, float]  # the app group's CPU seconds by process role (api, worker, …)
    active_backends: float
    waits: dict[str, float]
    workflow_ids: list[tuple[str, str | None]]  # (execution, review) of each, in finishing order
    reads: int  # the client's GETs while waiting: they cost the side's API CPU too

    @property
    def rate(self) -> float:
        return self.onboardings / self.seconds

    def cpu_ms(self, group: str | None = None) -> float:
        """CPU milliseconds per onboarding, of one group or of all."""
        spent = sum(self.cpu.values()) if group is None else self.cpu.get(group, 0.0)
        return spent / self.onboardings * 1000


async def latency(session: Session, rate: float, seconds: float, poll: float) -> Latency:
    polling = Polling(poll)

    async def one(n: int | str) -> tuple[float, float, float, float]:
        sent = time.perf_counter()
        execution_id = await session.send_webhook(n)
        answered = time.perf_counter()

        async def execution() -> float:
            await session.execution(execution_id, polling)
            return time.perf_counter()

        async def task() -> float:
            await session.review_task(execution_id, polling)
            return time.perf_counter()

        seen_execution, seen_task = await asyncio.gather(execution(), task())
        return (
            max(seen_execution, seen_task) - sent,
            answered - sent,
            seen_execution - sent,
            seen_task - sent,
        )

    requests = max(1, round(rate * seconds))
    prefix = uuid.uuid4().hex[:6]
    loop = asyncio.get_running_loop()
    begun = loop.time()
    pending = []
    for n in range(requests):
        await asyncio.sleep(max(0.0, begun + n / rate - loop.time()))
        pending.append(asyncio.create_task(one(f"{prefix}-{n}")))
    sending = loop.time() - begun
    results = await asyncio.gather(*pending)
    report = Latency(rate=(requests - 1) / sending if sending > 0 else float("nan"))
    for visible, response, execution, task in results:
        report.visible.append(visible)
        report.response.append(response)
        report.execution.append(execution)
        report.task.append(task)
    return report


async def onboard(session: Session, n: int | str, polling: Polling) -> tuple[str, str | None]:
    """One whole onboarding, from the form to the completed execution; the Temporal workflow
    ids of the execution and of the reviewer's command, as the API names them."""
    execution_id = await session.send_webhook(n)
    task = await session.review_task(execution_id, polling)
    review = await session.approve(str(task["id"]))
    done = await session.execution(execution_id, polling, status="completed")
    if done.get("ui_status") != "approved":
        raise AssertionError(f"{session.target.label} execution {execution_id} ended as {done}")
    return str(done["workflow_id"]), review


async def throughput(
    session: Session,
    meter: CpuMeter,
    sampler: BackendSampler,
    onboardings: int,
    concurrency: int,
    polling: Polling,
) -> Throughput:
    gate = asyncio.Semaphore(concurrency)
    prefix = uuid.uuid4().hex[:6]
    workflow_ids: list[tuple[str, str | None]] = []

    async def one(n: int) -> None:
        async with gate:
            workflow_ids.append(await onboard(session, f"{prefix}-{n}", polling))

    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    reads = session.reads
    meter.start()
    begun = time.perf_counter()
    try:
        await asyncio.gather(*(one(n) for n in range(onboardings)))
        seconds = time.perf_counter() - begun
        cpu = meter.stop()
    finally:
        stop.set()
        await sampling
    return Throughput(
        onboardings=onboardings,
        seconds=seconds,
        cpu=cpu,
        roles=meter.roles,
        active_backends=sampler.mean_active(),
        waits=sampler.top_waits(),
        workflow_ids=workflow_ids,
        reads=session.reads - reads,
    )


@dataclass
class ReadCost:
    """CPU milliseconds of a side's API process(es) per read, each read sent alone (a
    side with no process of its own for the API counts all of its processes)."""

    execution: float  # GET /api/v1/executions/{id}
    tasks: float  # GET /api/v1/tasks?execution_id=


async def read_cost(session: Session, meter: CpuMeter, reads: int) -> ReadCost:
    """The API's CPU for the two reads the client polls, on one onboarding's execution: shows
    how much of an API's CPU per onboarding is the polling a client does."""
    execution_id = await session.send_webhook(f"reads-{uuid.uuid4().hex[:6]}")
    await session.review_task(execution_id, Polling(0.02))
    costs = []
    paths = (f"/api/v1/executions/{execution_id}", f"/api/v1/tasks?execution_id={execution_id}")
    for path in paths:
        meter.start()
        for _ in range(reads):
            response = await session.client.get(path)
            if response.status_code != 200:
                raise AssertionError(f"{session.target.label} {path}: {response.status_code}")
        meter.stop()
        # A side that serves its API from a process of another role: its whole app counts.
        spent = meter.roles.get("api", sum(meter.roles.values()))
        costs.append(spent / reads * 1000)
    return ReadCost(execution=costs[0], tasks=costs[1])
