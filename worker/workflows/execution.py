"""The generic execution workflow: one Temporal workflow interprets any definition's steps.

It receives the definition version it started with (``ExecutionInput.definition``) and keeps
it, through continue-as-new, for its whole life. The steps run in order (`order`, else as
listed); `next`, a condition's `then_goto`/`default` and a wait's `on_timeout` jump; `end`
finishes. Each step runs the same way: its config is rendered (templates), parsed into its
step type's typed model (domain/steps/), and handed to its runner (worker/workflows/steps/); the
shared runtime is in engine.py.

Changing this code safely (determinism): running executions replay their history through the
new code, so any change to the sequence of commands an existing history records (an activity
added, removed, reordered, made local; a timer changed) must be guarded::

    if workflow.patched("send-email-before-status"):
        ...new behaviour...
    else:
        ...old behaviour...

Once no execution that started before the change is still running, replace ``patched`` by
``workflow.deprecate_patch("send-email-before-status")``, and later remove it. Histories under
tests/histories/ are replayed by the test suite: a change that breaks replay fails the tests.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import END
    from domain.steps import step_type
    from worker.contracts import (
        CANCEL_SIGNAL,
        EXECUTION_WORKFLOW,
        NAMED_SIGNAL,
        STATE_QUERY,
        TASK_STATUS_CHANGED_SIGNAL,
        CancelRequest,
        ExecutionInput,
        ExecutionResult,
        ExecutionSnapshot,
        NamedSignal,
        TaskStatusChanged,
    )

    # The engine and the runners are passed through as well: they keep no state in their
    # modules and do no I/O (lint-imports keeps worker.workflows free of I/O libraries), and
    # re-importing their modules in every execution's sandbox cost CPU on every start: replaying
    # the onboarding's history took 46 ms of CPU with them sandboxed, 27 ms passed through.
    from worker.workflows.engine import Engine, StepHalt, describe
    from worker.workflows.steps import Runner, runner_for


@workflow.defn(name=EXECUTION_WORKFLOW)
class ExecutionWorkflow:
    @workflow.init
    def __init__(self, input: ExecutionInput) -> None:
        # Built before any handler runs, so a signal that arrives with the start is kept.
        self._engine = Engine(input)
        self._main: asyncio.Task[ExecutionResult] | None = None
        self._cancel: CancelRequest | None = None
        self._runners: dict[str, Runner] = {}

    # -- signals and query -----------------------------------------------------------------

    @workflow.signal(name=TASK_STATUS_CHANGED_SIGNAL)
    def task_status_changed(self, change: TaskStatusChanged) -> None:
        """Kept whatever the execution is doing: a wait_for_task reached later sees it."""
        self._engine.task_changed(change)

    @workflow.signal(name=NAMED_SIGNAL)
    def signal(self, signal: NamedSignal) -> None:
        self._engine.state.signals.setdefault(signal.name, []).append(dict(signal.payload))

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, request: CancelRequest) -> None:
        """Cancel with a reason; a Temporal cancel request (without this signal) works too,
        and this signal sent just before one gives it its reason."""
        if self._cancel is None:
            self._cancel = request
        if self._main is not None and not self._main.done():
            self._main.cancel()

    @workflow.query(name=STATE_QUERY)
    def state(self) -> ExecutionSnapshot:
        engine = self._engine
        return ExecutionSnapshot(
            execution_id=engine.input.execution_id,
            status=engine.status,
            ui_status=engine.state.ui_status,
            current_step_id=engine.current_step_id,
            waiting=engine.waiting,
            outputs=engine.state.outputs,
            tasks=list(engine.state.tasks.values()),
            pending_signals={name: len(items) for name, items in engine.state.signals.items()},
            runs=engine.state.runs,
        )

    # -- run -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ExecutionInput) -> ExecutionResult:
        if self._cancel is None:
            self._main = asyncio.create_task(self._interpret())
            try:
                return await self._main
            except BaseException as error:
                if not is_cancelled_exception(error):
                    raise
        return await self._cancelled()

    async def _interpret(self) -> ExecutionResult:
        engine = self._engine
        if not engine.state.begun:
            failed = await engine.begin()
            if failed is not None:
                return failed
        engine.resume_reminders()
        while True:
            step_id = engine.state.next_step_id or END
            if step_id == END:
                engine.current_step_id = None
                return await engine.finish("completed")
            if engine.should_continue_as_new():
                await engine.continue_as_new()
            step = engine.step_named(step_id)
            if step is None:  # validation forbids it; a hand-made input could still do it
                message = f"The run jumped to step '{step_id}', which is not in the definition."
                return await engine.finish("failed", error=message)
            engine.state.step_seq += 1
            engine.current_step_id = step.id
            try:
                runner = self._runner(step.type)
                if runner is None:
                    raise StepHalt("failed", describe(step, f"unknown step type {step.type!r}."))
                config = engine.parse(step, engine.render(step))
                engine.state.next_step_id = await runner(engine, step, config)
            except StepHalt as halt:
                return await engine.finish(halt.outcome, step=step, error=halt.error)

    def _runner(self, name: str) -> Runner | None:
        """The runner of a registered step type, imported once per run; None for a type that
        is not registered, or registered without a runner this worker can import."""
        runner = self._runners.get(name)
        if runner is None:
            try:
                runner = runner_for(step_type(name))
            except (KeyError, ModuleNotFoundError):
                return None
            self._runners[name] = runner
        return runner

    async def _cancelled(self) -> ExecutionResult:
        """Record the cancel and cancel the execution's open tasks, shielded from a second
        cancellation; then end as cancelled (as a cancelled Temporal workflow when Temporal
        asked for it, so its own view agrees)."""
        request = self._cancel or CancelRequest()
        temporal_asked = self._cancel is None
        engine = self._engine

        async def record() -> ExecutionResult:
            if not engine.state.begun:
                failed = await engine.begin()
                if failed is not None:
                    return failed
            return await engine.finish(
                "cancelled",
                error=(request.reason or "cancelled"),
                cancelled_by=request.actor,
                cancel_task_ids=engine.open_task_ids(),
            )

        recording = asyncio.create_task(record())
        while not recording.done():
            try:
                await asyncio.shield(recording)
            except asyncio.CancelledError:
                temporal_asked = True
        result = recording.result()
        if temporal_asked:
            raise asyncio.CancelledError(result.error)
        return result
