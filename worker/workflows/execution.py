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
from collections.abc import Coroutine
from typing import Any

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import END, Step
    from domain.steps import step_type
    from worker.contracts import (
        CANCEL_SIGNAL,
        EXECUTION_WORKFLOW,
        MIGRATE_UPDATE,
        NAMED_SIGNAL,
        PARKED_STEP_SIGNAL,
        STATE_QUERY,
        TASK_STATUS_CHANGED_SIGNAL,
        BranchSnapshot,
        CancelRequest,
        ExecutionInput,
        ExecutionResult,
        ExecutionSnapshot,
        MigrationAnswer,
        MigrationRequest,
        NamedSignal,
        ParkedStepAction,
        TaskStatusChanged,
    )

    # The engine and the runners are passed through as well: they keep no state in their
    # modules and do no I/O (lint-imports keeps worker.workflows free of I/O libraries), and
    # re-importing their modules in every execution's sandbox cost CPU on every start: replaying
    # the onboarding's history took 46 ms of CPU with them sandboxed, 27 ms passed through.
    from worker.workflows.engine import (
        LOOP_RESUME_PATCH,
        Cause,
        Engine,
        StepHalt,
        StepMoved,
        describe,
    )
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

    @workflow.signal(name=PARKED_STEP_SIGNAL)
    def parked_step(self, action: ParkedStepAction) -> None:
        """An admin retries or skips the step the execution is parked on."""
        self._engine.parked_step_action(action)

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self, request: CancelRequest) -> None:
        """Cancel with a reason; a Temporal cancel request (without this signal) works too,
        and this signal sent just before one gives it its reason."""
        if self._cancel is None:
            self._cancel = request
        if self._engine.compensating:
            return  # compensation already ends the execution; it is not interrupted
        if self._main is not None and not self._main.done():
            self._main.cancel()

    @workflow.update(name=MIGRATE_UPDATE)
    async def migrate(self, request: MigrationRequest) -> MigrationAnswer:
        """Move the execution to another version of its definition, if it waits at a safe
        point (see `Engine.migration_problem`): the run loop leaves the wait, records the move
        and goes on in the mapped step (`Engine.move`). Answers whether it moved, and why not."""
        engine = self._engine
        to_step, problem = engine.migration_problem(request)
        if to_step is not None and not engine.accept_migration(request, to_step):
            to_step, problem = None, "this execution's history predates moves between versions."
        if to_step is None:
            return MigrationAnswer(
                moved=False,
                reason=problem,
                from_version=engine.input.definition_version,
                definition_version=request.definition_version,
                from_step=engine.current_step_id,
            )
        main = self._main
        await workflow.wait_condition(
            lambda: engine.migration is None or main is None or main.done()
        )
        answer = engine.migration_answer
        if engine.migration is not None or answer is None:
            engine.migration = None
            return MigrationAnswer(
                moved=False,
                reason="the execution ended before it could move.",
                from_version=engine.input.definition_version,
                definition_version=request.definition_version,
                from_step=engine.current_step_id,
            )
        return answer

    @workflow.query(name=STATE_QUERY)
    def state(self) -> ExecutionSnapshot:
        engine = self._engine
        status, waiting = engine.status, engine.waiting
        running = [branch for branch in engine.branches if not branch.ended]
        if running and all(branch.waiting is not None for branch in running):
            # A parallel step whose every running branch waits: the execution waits.
            status, waiting = "waiting", running[0].waiting
        return ExecutionSnapshot(
            execution_id=engine.input.execution_id,
            status=status,
            ui_status=engine.state.ui_status,
            current_step_id=engine.current_step_id,
            waiting=waiting,
            branches=[
                BranchSnapshot(
                    step_id=branch.container.id,
                    branch=branch.branch.name,
                    status=branch.status,
                    current_step_id=branch.current_step_id,
                    waiting=branch.waiting,
                    iteration=branch.iteration,
                )
                for branch in engine.branches
            ],
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
            failed = await self._begin()
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
            except StepMoved:
                engine.state.next_step_id = await engine.move(step)
                continue
            except StepHalt as halt:
                policy = engine.error_policy(step, halt)
                if policy is None:
                    return await self._halted(step, halt)
                after = await self._after_failure(step, policy, halt.error)
                if isinstance(after, ExecutionResult):
                    return after
                engine.state.next_step_id = after
                continue
            engine.completed(step)

    async def _begin(self) -> ExecutionResult | None:
        """Begin the execution, or, in a retried run, take up the failed one (see
        `Engine.resume`); the result of an execution that could not even start, else None."""
        engine = self._engine
        if engine.input.retry is not None:
            await engine.resume(engine.input.retry)
            return None
        return await engine.begin()

    async def _halted(self, step: Step, halt: StepHalt) -> ExecutionResult:
        """The step ends the execution: compensated when completed steps say how to undo
        them, else failed or timed out."""
        engine = self._engine
        if engine.compensations_due and halt.outcome in ("failed", "timed_out"):
            cause: Cause = "failed" if halt.outcome == "failed" else "timed_out"
            return await _uninterrupted(self._compensate(cause, step, halt.error))
        return await engine.finish(halt.outcome, step=step, error=halt.error)

    async def _after_failure(self, step: Step, policy: str, error: str) -> ExecutionResult | str:
        """`on_failure` other than `fail`: where the run goes after the failed step (`continue`:
        the next step; a step id or `end`: there; `park`: the step again or the next one, as an
        admin says), or how the execution ended when even that could not be recorded."""
        engine = self._engine
        if policy == "park":
            try:
                action = await engine.park(step, error)
            except StepHalt as halt:  # the admin's answer could not be recorded
                return await self._halted(step, StepHalt("failed", f"{error}; {halt.error}"))
            if action is None:
                problem = f"{error} (it could not be parked for an admin)"
                return await self._halted(step, StepHalt("failed", problem))
            failed_loop, engine.failed_loop = engine.failed_loop, None
            if action.action != "retry":
                return engine.follow(step)
            if (
                failed_loop is not None
                and failed_loop.step_id == step.id
                and workflow.patched(LOOP_RESUME_PATCH)
            ):
                engine.resumed_loop = failed_loop  # on at the iteration that failed
            return step.id
        try:
            await engine.fail_step(step, error)
        except StepHalt as halt:
            return await self._halted(step, StepHalt("failed", f"{error}; {halt.error}"))
        return engine.follow(step) if policy == "continue" else policy

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

    async def _compensate(
        self, cause: Cause, step: Step | None, error: str, cancelled_by: str | None = None
    ) -> ExecutionResult:
        """Saga compensation: undo the completed steps that say how, the last completed first
        (each step's own compensations in the order it lists them). A compensation that fails
        (after its own retries) is recorded failed and reported at the end; the others still
        run. Ends `compensated` or `compensation_failed`."""
        engine = self._engine
        problem = await engine.begin_compensation(
            cause, step=step, error=error, cancelled_by=cancelled_by
        )
        if problem is not None:  # not even its start could be recorded: end as without it
            return await engine.finish(
                cause,
                step=step,
                error=f"{error}; compensation could not begin: {problem}",
                cancelled_by=cancelled_by,
                cancel_task_ids=engine.open_task_ids() if cause == "cancelled" else None,
            )
        failures: list[dict[str, Any]] = []
        while engine.state.compensations:
            owner_id = engine.state.compensations[-1]
            owner = engine.any_step(owner_id)
            for compensation in () if owner is None else owner.compensate:
                failure = await self._run_compensation(owner_id, compensation)
                if failure is not None:
                    failures.append(
                        {"step_id": compensation.id, "compensation_of": owner_id, "error": failure}
                    )
            engine.state.compensations.pop()
        return await engine.end_compensation(cause, step=step, error=error, failures=failures)

    async def _run_compensation(self, owner_id: str, compensation: Step) -> str | None:
        """Run one compensating step like any step (render, parse, its type's runner); None
        when it completed, else why it failed."""
        engine = self._engine
        engine.state.step_seq += 1
        engine.current_step_id = compensation.id
        try:
            await engine.start_compensation(owner_id, compensation)
            runner = self._runner(compensation.type)
            if runner is None:
                problem = f"unknown step type {compensation.type!r}."
                raise StepHalt("failed", describe(compensation, problem))
            config = engine.parse(compensation, engine.render(compensation))
            await runner(engine, compensation, config)
        except StepHalt as halt:
            await engine.fail_compensation(compensation, halt.error)
            return halt.error
        return None

    async def _cancelled(self) -> ExecutionResult:
        """Record the cancel and cancel the execution's open tasks, shielded from a second
        cancellation; then end as cancelled (as a cancelled Temporal workflow when Temporal
        asked for it, so its own view agrees)."""
        request = self._cancel or CancelRequest()
        temporal_asked = self._cancel is None
        engine = self._engine

        async def record() -> ExecutionResult:
            if not engine.state.begun:
                failed = await self._begin()
                if failed is not None:
                    return failed
            if engine.compensations_due:
                reason = request.reason or "cancelled"
                return await self._compensate("cancelled", None, reason, request.actor)
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


async def _uninterrupted(work: Coroutine[Any, Any, ExecutionResult]) -> ExecutionResult:
    """Run `work` to its end even if the execution is cancelled meanwhile (compensation that
    has begun ends the execution itself; a cancel cannot stop it half-way)."""
    task = asyncio.create_task(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
    return task.result()
