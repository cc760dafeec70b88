"""Runs the branches of a parallel step at the same time, as asyncio tasks of the workflow's
deterministic event loop, and joins them: `all` waits for every branch, `any` for the first to
end. The branches that are no longer needed (the others, with `any`; all the rest when one
fails; every one when the execution is cancelled) are cancelled and recorded: their open step
closed as cancelled, their open tasks cancelled, in one save. A branch that fails fails the
parallel step with its reason (then the step's `on_failure`, or the execution's failure and
compensation, as for any step).

Output: ``{join, first, branches: {<name>: {status, outputs: {<step id>: output}}}}`` (status
completed | cancelled); each branch step's output is also ``{{<step id>.…}}`` for later steps.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step, branches_of
    from domain.steps.parallel import ParallelConfig
    from worker.step_calls import CancelSteps, EngineActivities

from worker.workflows.engine import FINISHED_TASK_STATUSES, BranchEngine, Engine, StepHalt, describe
from worker.workflows.steps.sequence import run_sequence, uninterrupted

Task = asyncio.Task[None]


async def run(engine: Engine, step: Step, config: ParallelConfig) -> str:
    # The container's own entry first (with the steps still to record), then its branches'.
    await engine.record_step(step, "start")
    branches = [BranchEngine(engine, step, branch) for branch in branches_of(step)]
    tasks = [asyncio.create_task(run_sequence(branch)) for branch in branches]
    engine.branches = [*branches]  # the `state` query shows them until all have stopped
    try:
        try:
            failed, first = await _join(config.join, branches, tasks)
        except BaseException as error:
            if not is_cancelled_exception(error):
                raise
            # The execution is cancelled: every branch stops, and the timeline says so (the
            # cancel itself and the tasks' cancellation follow, as for any step).
            stop = _stop(engine, step, branches, tasks, "The execution was cancelled.", own=True)
            await uninterrupted(stop)
            raise
        if failed is not None:
            branch, halt = failed
            reason = f"Branch '{branch.branch.name}' failed."
            await _stop(engine, step, branches, tasks, reason, failed=failed)
            problem = f"branch '{branch.branch.name}' failed: {halt.error}"
            raise StepHalt(halt.outcome, describe(step, problem))
        if first is not None and config.join == "any":
            reason = f"Branch '{first.branch.name}' finished first."
            await _stop(engine, step, branches, tasks, reason)
    finally:
        engine.branches = []
    output = {
        "join": config.join,
        "first": None if first is None else first.branch.name,
        "branches": {
            branch.branch.name: {
                "status": "completed" if branch.ended else "cancelled",
                "outputs": {
                    each.id: engine.state.outputs[each.id]
                    for each in branch.branch.steps
                    if each.id in engine.state.outputs
                },
            }
            for branch in branches
        },
    }
    await engine.done(step, "done", output)
    return engine.follow(step)


async def _join(
    join: str, branches: list[BranchEngine], tasks: list[Task]
) -> tuple[tuple[BranchEngine, StepHalt] | None, BranchEngine | None]:
    """Wait until the join is met or a branch fails: (the failed branch and why, or None; the
    first branch that ended, or None). Branches are looked at in their order, so a replay
    decides the same way."""
    remaining = list(range(len(tasks)))
    first: BranchEngine | None = None
    while remaining:
        await workflow.wait_condition(lambda: any(tasks[i].done() for i in remaining))
        for index in [i for i in remaining if tasks[i].done()]:
            remaining.remove(index)
            if tasks[index].cancelled():  # stopped, not ended
                continue
            error = tasks[index].exception()
            if isinstance(error, StepHalt):
                return (branches[index], error), first
            if error is not None:
                for other in remaining:
                    tasks[other].cancel()
                raise error
            first = first or branches[index]
        if first is not None and join == "any":
            break
    return None, first


async def _stop(
    engine: Engine,
    step: Step,
    branches: list[BranchEngine],
    tasks: list[Task],
    reason: str,
    *,
    failed: tuple[BranchEngine, StepHalt] | None = None,
    own: bool = False,
) -> None:
    """Stop the branches still running, wait for them to stop, and record it in one save: each
    one's open step cancelled with `reason` (with `own`, the parallel step too), the tasks they
    opened and left open cancelled, and the failed branch's step closed with its error.

    A branch that waits (a task, a signal, a delay) is stopped at once; one in the middle of a
    call ends that step first (a contact created, an email sent is then recorded, and undone by
    compensation like any completed step), and stops before its next. With `own` (the execution
    is cancelled) every branch is cancelled at once, as the execution's own step would be."""
    stopped = [b for b, task in zip(branches, tasks, strict=True) if not task.done()]
    for branch, task in zip(branches, tasks, strict=True):
        if not task.done():
            branch.stopping = True
            if own or branch.waiting is not None:
                task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    refs = [
        branch.ref(branch.branch.step(branch.current_step_id))
        for branch in stopped
        if branch.current_step_id is not None
    ]
    if own:
        refs.append(engine.ref(step))
    ids = {each.id for branch in stopped for each in branch.branch.steps}
    open_tasks = [
        ref
        for ref in engine.state.tasks.values()
        if ref.assigned and ref.step_id in ids and ref.status not in FINISHED_TASK_STATUSES
    ]
    failed_step = None
    error = None
    if failed is not None:
        branch, halt = failed
        if branch.current_step_id is not None:
            failed_step = branch.ref(branch.branch.step(branch.current_step_id))
            error = halt.error
    if not refs and not open_tasks and failed_step is None:
        return
    call = CancelSteps(
        meta=engine.input.meta,
        execution_id=engine.input.execution_id,
        command_key=engine.key(step, "cancelled" if own else "stop-branches"),
        steps=refs,
        reason=reason,
        cancel_task_ids=[] if own else [ref.task_id for ref in open_tasks],
        failed=failed_step,
        error=error,
    )
    await engine.step_call(step, EngineActivities.cancel_steps, call)
    if not own:
        for ref in open_tasks:
            ref.status = "cancelled"
    for branch in stopped:
        branch.status = "cancelled"
        branch.waiting = None
