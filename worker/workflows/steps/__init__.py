"""The runners of the step types, one module per type: `run(engine, step, config)`.

A runner gets the typed config (templates rendered, then parsed into the type's model from
`domain.steps`) and returns the id of the step to run next (or END); it ends the execution early
by raising StepHalt. The module of a type is found by its name (`worker/workflows/steps/<type>.py`)
or by the `runner` its StepType names, so a new step type needs no line here: the runners of
every type registered when this package loads are imported with it, a type registered later on
first use.

Outputs (what `{{<step id>.…}}` reads later):

* trigger: ``{type, payload, contact_id}``
* assign_task, update_task, complete_task: ``{task: {id, title, assigned_to, status, metadata,
  due_date, completed_at, …}}``; set_due_date: ``{due_date, task_id, task?}``
* wait_for_task: ``{task: {id, status, metadata, completed_at}, timed_out, reminders_sent}``
* update_contact: ``{contact: {...}}``; update_status: ``{ui_status, previous}``
* send_email: ``{to, cc, subject, delivered, message_id, error}``
* reminder: ``{scheduled_for, task_id, recipient}``; delay: ``{until, seconds}``
* condition: ``{value, branch, matched}`` (matched: index of the branch, or None)
* wait_for_signal: ``{signal, payload, timed_out}``
* http_request: ``{status, body, headers}``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import Step
    from domain.steps import StepType, step_types

from worker.workflows.engine import Engine

Runner = Callable[[Engine, Step, Any], Awaitable[str]]


def runner_module(step_type: StepType) -> str:
    return step_type.runner or f"{__name__}.{step_type.name}"


def runner_for(step_type: StepType) -> Runner:
    """The `run` of the step type's module; ModuleNotFoundError when there is no such module."""
    known = RUNNERS.get(step_type.name)
    if known is not None:
        return known
    module_name = runner_module(step_type)
    # Passed through like this package (see worker/workflows/execution.py), also when a type
    # registered after the workflow code loaded is first met inside a workflow.
    with workflow.unsafe.imports_passed_through():
        module = __import__(module_name, fromlist=["run"])
    return cast(Runner, module.run)


def _loaded() -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    for registered in step_types():
        try:
            runners[registered.name] = runner_for(registered)
        except ModuleNotFoundError as missing:
            if missing.name != runner_module(registered):
                raise  # the runner exists but is broken: better the worker does not start
            # Not runnable by this worker: a step of this type fails as an unknown type.
    return runners


RUNNERS: dict[str, Runner] = {}
RUNNERS.update(_loaded())
