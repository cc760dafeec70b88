"""Runs a for_each step's steps once per item, one iteration after the other.

The list is rendered once, when the loop begins, and checked against `max_items` before any
iteration runs. Each iteration is a LoopEngine (worker/workflows/engine.py): its steps read
`{{loop.item}}`, `{{loop.index}}`, `{{loop.count}}`, record with the next call's save like
the execution's own steps, and their timeline entries say `within: {step_id, iteration, item}`.
The loop's progress (`ExecutionState.loop`: the items, the next index, the outputs so far) is
the execution's, so a long loop continues as new between iterations, every
ITERATIONS_PER_RUN iterations or sooner when the history grows (`should_continue_as_new`), and
the next run goes on from the same index. A retry of an execution that failed in the loop
(POST /executions/{id}/retry from it) goes on at the iteration that failed, with the outputs of
the ones before it, as long as the list rendered again begins with the same items.

Output: ``{count, outputs: [{<step id>: output, …} per iteration]}``.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step, branches_of
    from domain.steps.for_each import ForEachConfig
    from worker.contracts import LoopProgress
    from worker.step_calls import CancelSteps, EngineActivities, LoopSoFar

from worker.workflows.engine import Engine, LoopEngine, StepHalt, describe
from worker.workflows.steps.sequence import run_sequence, uninterrupted

# Iterations per Temporal run: each records at least its steps' events, so a run of a long loop
# stays far below Temporal's history limits (and the progress carried across stays small).
ITERATIONS_PER_RUN = 100
# The most a loop carries (its items and the outputs collected so far, as JSON): the progress
# travels in the input of each continue-as-new run, which Temporal bounds (2 MB by default), so
# a loop that would pass this fails with the reason instead of wedging its workflow.
MAX_LOOP_BYTES = 1_000_000


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")))


def _same_items(resumed: LoopSoFar, items: list[Any]) -> bool:
    """Whether the list rendered now begins with the items the failed attempt worked on (as
    far as the timeline kept them); if it does not (the contact or an output it is drawn from
    changed), iteration n would be another item's, and the loop runs from its first item."""
    if len(items) < len(resumed.outputs):
        return False
    return all(
        index < len(items) and _as_json(items[index]) == _as_json(item)
        for index, item in resumed.items.items()
    )


def _as_json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))


def _too_big(step: Step, progress: LoopProgress) -> StepHalt:
    problem = (
        f"its items and the outputs collected pass {MAX_LOOP_BYTES:,} bytes (after "
        f"{len(progress.outputs)} of {len(progress.items)} iterations); a for_each carries at "
        "most that: loop over fewer items, or keep the steps' outputs smaller."
    )
    return StepHalt("failed", describe(step, problem))


async def run(engine: Engine, step: Step, config: ForEachConfig) -> str:
    (sequence,) = branches_of(step)
    progress = engine.state.loop
    if progress is None or progress.step_id != step.id:
        items = list(config.items)
        if len(items) > config.max_items:
            problem = (
                f"'items' holds {len(items)} items, more than its max_items "
                f"({config.max_items}); no iteration ran."
            )
            raise StepHalt("failed", describe(step, problem))
        # The loop's own entry first (with the steps still to record), then its iterations'.
        await engine.record_step(step, "start")
        progress = LoopProgress(step_id=step.id, items=items, size=_size(items))
        resumed, engine.resumed_loop = engine.resumed_loop, None
        if resumed is not None and resumed.step_id == step.id and _same_items(resumed, items):
            # A retry of the execution this loop failed: on at the iteration that failed.
            progress.index = len(resumed.outputs)
            progress.outputs = list(resumed.outputs)
            progress.size += sum(_size(outputs) for outputs in resumed.outputs)
        if progress.size > MAX_LOOP_BYTES:
            raise _too_big(step, progress)
        engine.state.loop = progress
    ran = 0
    while progress.index < len(progress.items):
        if ran >= ITERATIONS_PER_RUN or engine.should_continue_as_new():
            await engine.flush(step)
            await engine.continue_as_new()
        index = progress.index
        for each in sequence.steps:  # an iteration reads only its own steps' outputs
            engine.state.outputs.pop(each.id, None)
        item = progress.items[index]
        iteration = LoopEngine(engine, step, sequence, index, item, len(progress.items))
        engine.branches = [iteration]
        try:
            await run_sequence(iteration)
        except StepHalt as halt:
            # Kept for an admin's retry if the step is parked (on_failure: park).
            engine.failed_loop = LoopSoFar(
                step_id=step.id,
                outputs=list(progress.outputs),
                items=dict(enumerate(progress.items[: index + 1])),
            )
            engine.state.loop = None
            await _close(engine, step, iteration, failed=halt)
            problem = f"iteration {index} failed: {halt.error}"
            raise StepHalt(halt.outcome, describe(step, problem)) from None
        except BaseException as error:
            if is_cancelled_exception(error):
                await uninterrupted(_close(engine, step, iteration))
            raise
        finally:
            engine.branches = []
        outputs = {
            each.id: engine.state.outputs[each.id]
            for each in sequence.steps
            if each.id in engine.state.outputs
        }
        progress.outputs.append(outputs)
        progress.size += _size(outputs)
        if progress.size > MAX_LOOP_BYTES:
            engine.state.loop = None
            raise _too_big(step, progress)
        progress.index += 1
        ran += 1
    engine.state.loop = None
    await engine.done(step, "done", {"count": len(progress.items), "outputs": progress.outputs})
    return engine.follow(step)


async def _close(
    engine: Engine, step: Step, iteration: LoopEngine, *, failed: StepHalt | None = None
) -> None:
    """Record how the iteration's open step ended, with the steps still pending: failed with
    the reason, or (the execution cancelled) cancelled, and the loop's own entry with it."""
    current = iteration.current_step_id
    ref = None if current is None else iteration.ref(iteration.branch.step(current))
    if failed is None:
        closed = [engine.ref(step)] if ref is None else [ref, engine.ref(step)]
        failed_ref, error = None, None
    else:
        closed, failed_ref, error = [], ref, failed.error
    call = CancelSteps(
        meta=engine.input.meta,
        execution_id=engine.input.execution_id,
        command_key=engine.key(step, "cancelled" if failed is None else "failed"),
        before=list(engine.state.pending),
        steps=closed,
        reason="The execution was cancelled.",
        failed=failed_ref,
        error=error,
    )
    try:
        await engine.step_call(step, EngineActivities.cancel_steps, call)
    except StepHalt as halt:
        workflow.logger.warning("iteration's end not recorded", extra={"error": halt.error})
