"""What each step type does, inside the workflow: render, call its activity, choose what is next.

Every runner takes the engine, the step and its rendered config, and returns the id of the step
to run next (or END). A runner ends the execution early by raising StepHalt. Workflow code: no
I/O, time from ``workflow.now()``; the config keys are those domain/step_config_validation.py
accepts.

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
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.definition_model import END, Step
    from worker.contracts import REFUSAL_TYPES, PendingReminder, TaskRef, WaitInfo
    from worker.step_calls import (
        ASSIGN_TASK_STEP,
        COMPLETE_TASK_STEP,
        HTTP_CLIENT_ERROR,
        HTTP_REQUEST_STEP,
        SEND_EMAIL_STEP,
        SET_DUE_DATE_STEP,
        UPDATE_CONTACT_STEP,
        UPDATE_STATUS_STEP,
        UPDATE_TASK_STEP,
        AssignTaskStep,
        CompleteTaskStep,
        HttpRequestStep,
        SendEmailStep,
        SendReminder,
        SetDueDateStep,
        UpdateContactStep,
        UpdateStatusStep,
        UpdateTaskStep,
        WaitSpec,
    )

# Sibling workflow code is imported normally, so the sandbox checks it like the workflow itself.
from worker.workflows.engine import FINISHED_TASK_STATUSES, Engine, StepHalt, describe

Runner = Callable[[Engine, Step, dict[str, Any]], Awaitable[str]]

DEFAULT_MAX_REMINDERS = 3
DEFAULT_HTTP_RETRIES = 3
DEFAULT_HTTP_TIMEOUT_SECONDS = 30.0
DEFAULT_HTTP_BACKOFF_SECONDS = 1.0
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=REFUSAL_TYPES,
)


# -- helpers ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _object(step: Step, value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StepHalt("failed", describe(step, f"'{key}' must be an object, not {value!r}."))
    return value


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _addresses(step: Step, value: Any, key: str, *, required: bool) -> list[str]:
    """`to`, `cc`: one address, a comma-separated list, or a list of either."""
    items = value if isinstance(value, list) else [value]
    found = [
        address.strip()
        for item in items
        if item is not None
        for address in str(item).split(",")
        if address.strip()
    ]
    if required and not found:
        raise StepHalt(
            "failed", describe(step, f"'{key}' rendered to no email address ({value!r}).")
        )
    return found


def _date(step: Step, value: Any, key: str) -> str:
    text = _text(value)
    try:
        parsed = datetime.fromisoformat(text or "")
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise StepHalt(
            "failed",
            describe(step, f"'{key}' is {value!r}, not an ISO-8601 date-time with a timezone."),
        )
    return parsed.isoformat()


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def matches(value: Any, expected: Any) -> bool:
    """A condition branch matches by equality; scalars also match by their text, so that a
    number rendered from a template equals the same number written as text in `if`."""
    if isinstance(value, dict | list) or isinstance(expected, dict | list):
        return bool(value == expected)
    return _scalar_text(value) == _scalar_text(expected)


def _task_output(task: TaskRef) -> dict[str, Any]:
    return {
        "id": task.task_id,
        "status": task.status,
        "metadata": task.metadata,
        "completed_at": task.completed_at,
    }


def _learn(engine: Engine, step_id: str, output: dict[str, Any]) -> TaskRef:
    task = output["task"]
    ref = TaskRef(
        task_id=task["id"],
        step_id=task.get("step_id") or step_id,
        status=task["status"],
        title=task.get("title"),
        assigned_to=task.get("assigned_to"),
        metadata=task.get("metadata") or {},
        completed_at=task.get("completed_at"),
        version=task.get("version"),
        assigned=True,
    )
    engine.learn_task(ref)
    return engine.state.tasks[ref.task_id]


async def _after_timeout(
    engine: Engine, step: Step, on_timeout: Any, output: dict[str, Any], waited: str
) -> str:
    """`on_timeout`: absent or exhausted reminders → timed_out; `fail` → failed; `continue` →
    the next step; a step id or `end` → jump there. The step's output says `timed_out`."""
    if on_timeout in (None, "send_reminder"):
        raise StepHalt("timed_out", describe(step, f"timed out after waiting {waited}."))
    if on_timeout == "fail":
        raise StepHalt("failed", describe(step, f"timed out after waiting {waited}."))
    await engine.record_step(step, "timed-out", output=output)
    if on_timeout == "continue":
        return engine.follow(step)
    return str(on_timeout)


def _duration_text(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds:g} seconds"


# -- the step types --------------------------------------------------------------------------


async def trigger(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """Runs once, at the start (Engine.begin); met again only if a definition loops to it."""
    await engine.record_step(step, "done", output={"type": config.get("type")})
    return engine.follow(step)


async def assign_task(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    due_date = config.get("due_date")
    call = AssignTaskStep(
        **engine.base(step, "assign"),
        title=_text(config.get("title")) or "",
        assigned_to=_text(config.get("assign_to")) or "",
        description=_text(config.get("description")),
        priority=_text(config.get("priority")) or "medium",
        due_date=None if due_date in (None, "") else _date(step, due_date, "due_date"),
        metadata=_object(step, config.get("metadata"), "metadata"),
        contact_id=engine.state.contact_id,
    )
    output = await engine.step_call(step, ASSIGN_TASK_STEP, call)
    task = _learn(engine, step.id, output)
    engine.state.step_tasks[step.id] = task.task_id
    engine.complete(step, output)
    return engine.follow(step)


async def wait_for_task(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """Waits for `task_status_changed` of its own task (signals for other tasks are kept but do
    not wake it). `done` completes the wait; so does `cancelled`, with that status in the output
    so that a condition can branch on it. `timeout_days` with `on_timeout: send_reminder`
    reminds the assignee after each period, up to `max_reminders` (default 3), then times out.
    """
    task = engine.task_from_step(step, str(config["task_from_step"]))
    task_id = task.task_id
    days = _number(config.get("timeout_days"))
    period = timedelta(days=days) if days > 0 else None
    on_timeout = config.get("on_timeout")
    max_reminders = int(_number(config.get("max_reminders", DEFAULT_MAX_REMINDERS)))
    reminders = 0

    def finished() -> bool:
        return engine.state.tasks[task_id].status in FINISHED_TASK_STATUSES

    def spec() -> WaitSpec:
        until = None if period is None else workflow.now() + period
        return WaitSpec(waiting_for="task", until=until, detail={"task_id": task_id})

    if not finished():
        wait = spec()
        info = WaitInfo(step_id=step.id, waiting_for="task", until=wait.until, task_id=task_id)
        arrived = await engine.wait_for(step, wait, info, finished)
        while not arrived:
            assert period is not None
            if on_timeout == "send_reminder" and reminders < max_reminders:
                reminders += 1
                wait = spec()
                current = engine.state.tasks[task_id]
                await engine.remind(
                    step,
                    SendReminder(
                        meta=engine.input.meta,
                        execution_id=engine.input.execution_id,
                        command_key=engine.key(step, f"reminder-{reminders}"),
                        step_id=step.id,
                        task_id=task_id,
                        recipient=current.assigned_to or "assignee",
                        count=reminders,
                        message=f"Reminder: the task '{current.title or task_id}' is still open.",
                        wait_again=wait,
                    ),
                )
                info.until = wait.until
                try:
                    await workflow.wait_condition(finished, timeout=period)
                    arrived = True
                except TimeoutError:
                    arrived = False
                continue
            output = {
                "task": _task_output(engine.state.tasks[task_id]),
                "timed_out": True,
                "reminders_sent": reminders,
            }
            waited = _duration_text(period * (reminders + 1))
            return await _after_timeout(engine, step, on_timeout, output, waited)
    output = {
        "task": _task_output(engine.state.tasks[task_id]),
        "timed_out": False,
        "reminders_sent": reminders,
    }
    await engine.record_step(step, "done", output=output)
    return engine.follow(step)


async def update_task(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    task = engine.task_from_step(step, str(config["task_from_step"]))
    updates = _object(step, config.get("updates"), "updates")
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        if key == "assign_to":
            changes["assigned_to"] = _text(value)
        elif key == "due_date":
            changes["due_date"] = None if value in (None, "") else _date(step, value, key)
        elif key == "metadata":
            changes["metadata"] = _object(step, value, "updates.metadata")
        else:
            changes[key] = value
    call = UpdateTaskStep(**engine.base(step, "update"), task_id=task.task_id, changes=changes)
    output = await engine.step_call(step, UPDATE_TASK_STEP, call)
    _learn(engine, task.step_id, output)
    engine.complete(step, output)
    return engine.follow(step)


async def complete_task(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """Marks the task done (with `outcome` and `metadata` merged into its metadata). The
    execution learns it directly, so a later wait_for_task on it does not wait."""
    task = engine.task_from_step(step, str(config["task_from_step"]))
    metadata = dict(_object(step, config.get("metadata"), "metadata"))
    if config.get("outcome") is not None:
        metadata["outcome"] = config["outcome"]
    call = CompleteTaskStep(
        **engine.base(step, "complete"), task_id=task.task_id, metadata=metadata
    )
    output = await engine.step_call(step, COMPLETE_TASK_STEP, call)
    _learn(engine, task.step_id, output)
    engine.complete(step, output)
    return engine.follow(step)


async def update_contact(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    if engine.state.contact_id is None:
        raise StepHalt("failed", describe(step, "this execution has no contact to update."))
    call = UpdateContactStep(
        **engine.base(step, "update"),
        contact_id=engine.state.contact_id,
        changes=_object(step, config.get("fields"), "fields"),
    )
    output = await engine.step_call(step, UPDATE_CONTACT_STEP, call)
    engine.state.contact = dict(output.get("contact") or engine.state.contact)
    engine.complete(step, output)
    return engine.follow(step)


async def update_status(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """The only way an execution's ui_status changes while it runs (seed 000, Critical
    Invariants); a status rendered from a template must still be one the definition declares."""
    status = _text(config.get("status")) or ""
    declared = [option.id for option in engine.definition.statuses]
    if declared and status not in declared:
        raise StepHalt(
            "failed",
            describe(
                step,
                f"status {status!r} is not one of the definition's statuses "
                f"({', '.join(declared)}).",
            ),
        )
    call = UpdateStatusStep(**engine.base(step, "status"), ui_status=status)
    output = await engine.step_call(step, UPDATE_STATUS_STEP, call)
    engine.state.ui_status = output.get("ui_status", status)
    engine.complete(step, output)
    return engine.follow(step)


async def set_due_date(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    source = config.get("task_from_step")
    task = None if source is None else engine.task_from_step(step, str(source))
    call = SetDueDateStep(
        **engine.base(step, "due-date"),
        due_date=_date(step, config.get("due_date"), "due_date"),
        task_id=None if task is None else task.task_id,
    )
    output = await engine.step_call(step, SET_DUE_DATE_STEP, call)
    engine.complete(step, output)
    return engine.follow(step)


async def send_email(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    senders = _addresses(step, config.get("from"), "from", required=False)
    call = SendEmailStep(
        **engine.base(step, "email"),
        to=_addresses(step, config.get("to"), "to", required=True),
        cc=_addresses(step, config.get("cc"), "cc", required=False),
        sender=senders[0] if senders else None,
        subject=_text(config.get("subject")) or "",
        body=_text(config.get("body")) or "",
    )
    output = await engine.remote_step_call(
        step, SEND_EMAIL_STEP, call, timeout=timedelta(seconds=60), retry=EMAIL_RETRY
    )
    engine.complete(step, output)
    return engine.follow(step)


async def reminder(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """Schedules a reminder and moves on at once; it fires later unless its task is done."""
    source = config.get("task_from_step")
    task = None if source is None else engine.task_from_step(step, str(source))
    if config.get("at") is not None:
        fire_at = datetime.fromisoformat(_date(step, config["at"], "at"))
    else:
        fire_at = workflow.now() + timedelta(
            days=_number(config.get("delay_days")),
            hours=_number(config.get("delay_hours")),
            minutes=_number(config.get("delay_minutes")),
        )
    email_to = _addresses(step, config.get("to"), "to", required=False)
    recipient = ", ".join(email_to) or (task.assigned_to if task else None) or "execution"
    pending = PendingReminder(
        key=engine.key(step, "reminder"),
        step_id=step.id,
        fire_at=fire_at,
        message=_text(config.get("message")) or "",
        recipient=recipient,
        task_id=None if task is None else task.task_id,
        email_to=email_to,
        subject=_text(config.get("subject")) or f"Reminder: {step.name}",
    )
    output = {
        "scheduled_for": fire_at.isoformat(),
        "task_id": pending.task_id,
        "recipient": recipient,
    }
    await engine.record_step(step, "scheduled", output=output)
    engine.schedule_reminder(pending)
    return engine.follow(step)


async def delay(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    length = timedelta(
        days=_number(config.get("days")),
        hours=_number(config.get("hours")),
        minutes=_number(config.get("minutes")),
        seconds=_number(config.get("seconds")),
    )
    until = workflow.now() + length
    wait = WaitSpec(waiting_for="delay", until=until)
    info = WaitInfo(step_id=step.id, waiting_for="delay", until=until)
    await engine.wait_for(step, wait, info, lambda: False)
    output = {"until": until.isoformat(), "seconds": length.total_seconds()}
    await engine.record_step(step, "done", output=output)
    return engine.follow(step)


async def condition(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """The first branch whose `if` matches `field` wins; else `default`; else the next step."""
    value = config.get("field")
    target: str | None = None
    matched: int | None = None
    for index, branch in enumerate(config.get("branches") or []):
        if isinstance(branch, dict) and matches(value, branch.get("if")):
            target, matched = str(branch["then_goto"]), index
            break
    if target is None:
        default = config.get("default")
        target = str(default) if default is not None else engine.follow(step)
    output = {"value": value, "branch": target, "matched": matched}
    await engine.record_step(step, "done", output=output)
    return target


async def wait_for_signal(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """Waits for the named signal (one sent earlier is already waiting in the state)."""
    name = str(config["signal"])
    queue = engine.state.signals
    length = timedelta(
        days=_number(config.get("timeout_days")), hours=_number(config.get("timeout_hours"))
    )
    period = length if length > timedelta(0) else None

    def arrived() -> bool:
        return bool(queue.get(name))

    if not arrived():
        until = None if period is None else workflow.now() + period
        wait = WaitSpec(waiting_for="signal", until=until, detail={"signal": name})
        info = WaitInfo(step_id=step.id, waiting_for="signal", until=until, signal=name)
        if not await engine.wait_for(step, wait, info, arrived):
            assert period is not None
            output = {"signal": name, "payload": {}, "timed_out": True}
            waited = _duration_text(period)
            return await _after_timeout(engine, step, config.get("on_timeout"), output, waited)
    payload = queue[name].pop(0)
    if not queue[name]:
        del queue[name]
    output = {"signal": name, "payload": payload, "timed_out": False}
    await engine.record_step(step, "done", output=output)
    return engine.follow(step)


async def http_request(engine: Engine, step: Step, config: dict[str, Any]) -> str:
    """An outbound call; `retries` (default 3) more attempts after a 5xx or no answer, backing
    off from `backoff_seconds` (default 1, doubling). A 4xx fails the step at once."""
    url = _text(config.get("url")) or ""
    if not url.lower().startswith(("http://", "https://")):
        raise StepHalt("failed", describe(step, f"URL {url!r} must start with http(s)://."))
    headers = {
        str(k): _text(v) or "" for k, v in _object(step, config.get("headers"), "headers").items()
    }
    timeout_seconds = _number(config.get("timeout_seconds")) or DEFAULT_HTTP_TIMEOUT_SECONDS
    retries = config.get("retries")
    attempts = 1 + int(DEFAULT_HTTP_RETRIES if retries is None else _number(retries))
    backoff = _number(config.get("backoff_seconds")) or DEFAULT_HTTP_BACKOFF_SECONDS
    call = HttpRequestStep(
        **engine.base(step, "http"),
        method=(_text(config.get("method")) or "GET").upper(),
        url=url,
        headers=headers,
        body=config.get("body"),
        timeout_seconds=timeout_seconds,
    )
    # Started before the call, so the timeline shows how long the call took.
    await engine.record_step(step, "start")
    retry = RetryPolicy(
        initial_interval=timedelta(seconds=backoff),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max(backoff * 16, 60)),
        maximum_attempts=attempts,
        non_retryable_error_types=[HTTP_CLIENT_ERROR, *REFUSAL_TYPES],
    )
    output = await engine.remote_step_call(
        step,
        HTTP_REQUEST_STEP,
        call,
        timeout=timedelta(seconds=timeout_seconds + 15),
        retry=retry,
    )
    engine.complete(step, output)
    return engine.follow(step)


RUNNERS: dict[str, Runner] = {
    "trigger": trigger,
    "assign_task": assign_task,
    "wait_for_task": wait_for_task,
    "update_task": update_task,
    "complete_task": complete_task,
    "update_contact": update_contact,
    "update_status": update_status,
    "set_due_date": set_due_date,
    "send_email": send_email,
    "reminder": reminder,
    "delay": delay,
    "condition": condition,
    "wait_for_signal": wait_for_signal,
    "http_request": http_request,
}

__all__ = ["END", "RUNNERS", "matches"]
