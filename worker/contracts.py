"""What the HTTP layer and the worker agree on: workflow names, inputs and results.

Each workflow and activity takes one pydantic model (fields can be added later without breaking
running executions) and travels through ``pydantic_data_converter``. The HTTP layer imports only
this module of the worker, so it never pulls workflow or activity code into the API process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

from domain.steps import StepDone, Wait

DEFAULT_TASK_QUEUE = "bytedash"

CONTACT_COMMAND_WORKFLOW = "ContactCommandWorkflow"
TASK_COMMAND_WORKFLOW = "TaskCommandWorkflow"
DEFINITION_COMMAND_WORKFLOW = "DefinitionCommandWorkflow"
ADMIN_COMMAND_WORKFLOW = "AdminCommandWorkflow"

# ApplicationError types of refusals: never retried, mapped to 404 / 422 / 409 by the API.
REFUSAL_TYPES = ["NotFound", "InvalidValue", "DefinitionInvalid", "InvalidTransition"]

# Memo of every workflow started for a command or an execution: the org it belongs to, so that
# `GET /api/v1/commands/{workflow_id}` answers only that org's callers without reading the
# workflow's input.
MEMO_ORG_ID = "org_id"

# Search attributes (docs/operations.md, "Finding workflows"): an operator lists an org's
# workflows, a definition's runs, a contact's workflows or the executions needing attention with
# `temporal workflow list --query`. A Temporal server accepts only attributes registered on its
# namespace (docs/deployment.md); the embedded dev server registers them at start.
# `ExecutionStatus` is Temporal's own (the workflow's Running/Completed): ours is BytedashStatus.
SEARCH_ORG_ID = SearchAttributeKey.for_keyword("OrgId")
SEARCH_DEFINITION_ID = SearchAttributeKey.for_keyword("DefinitionId")
SEARCH_DEFINITION_VERSION = SearchAttributeKey.for_int("DefinitionVersion")
SEARCH_CONTACT_ID = SearchAttributeKey.for_keyword("ContactId")
SEARCH_STATUS = SearchAttributeKey.for_keyword("BytedashStatus")
SEARCH_ATTRIBUTES = (
    SEARCH_ORG_ID,
    SEARCH_DEFINITION_ID,
    SEARCH_DEFINITION_VERSION,
    SEARCH_CONTACT_ID,
    SEARCH_STATUS,
)


class CommandMeta(BaseModel):
    """Who sent a command and how to trace it; becomes every resulting event's metadata."""

    org_id: str
    actor: str | None = None  # "user:<sub>"
    source: str = "api"
    correlation_id: str | None = None
    request_id: str | None = None


class ContactCommand(BaseModel):
    """The older ``action`` + ``changes`` shape: still decoded (recorded histories, workflows
    an older API started) and turned into an intent of `worker.commands`, which new code sends."""

    meta: CommandMeta
    action: Literal["create", "update", "archive"]
    contact_id: str
    # create: first_name, last_name, email, phone, status, fields.
    # update: only the fields the caller set (a PATCH), status included.
    changes: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class TaskCommand(BaseModel):
    """The older ``action`` + ``changes`` shape: still decoded (recorded histories, workflows
    an older API started) and turned into an intent of `worker.commands`, which new code sends."""

    meta: CommandMeta
    action: Literal["assign", "update"]
    task_id: str
    # assign: title, description, assigned_to, priority, due_date (ISO text), metadata,
    #   status (applied right after assignment when not "todo").
    # update: only the fields the caller set; due_date ISO text or null.
    changes: dict[str, Any] = Field(default_factory=dict)


class DefinitionCommand(BaseModel):
    """The older ``action`` + ``changes`` shape: still decoded (recorded histories, workflows
    an older API started) and turned into an intent of `worker.commands`, which new code sends."""

    meta: CommandMeta
    action: Literal["create", "publish", "activate", "deactivate", "rotate_secret"]
    definition_id: str
    body: dict[str, Any] | None = None  # create and publish: the definition JSON


class TaskStatusChanged(BaseModel):
    """Signal `task_status_changed`: a task created by an execution changed status (this wakes
    the step waiting for it). `version` is the task's aggregate version, so that two changes
    delivered out of order still leave the execution with the latest one."""

    execution_id: str
    task_id: str
    step_id: str | None = None
    status: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    completed_at: str | None = None
    version: int | None = None


class AdminCommand(BaseModel):
    """Records an administrator's action (rebuild, verify, reset, retry_parked, skip_parked on
    a projection) as an event before the operation runs."""

    meta: CommandMeta
    action: str
    target: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class CommandResult(BaseModel):
    """What a command workflow returns to a caller waiting on it."""

    id: str
    # Position of the last event the command appended, or None when it changed nothing;
    # a caller that wants read-your-writes waits until projections pass it.
    position: int | None = None
    version: int | None = None  # definitions: the version the command produced
    # Definitions: the webhook secret's generation after the command (rotate_secret).
    webhook_secret_generation: int | None = None
    # Tasks: set when the command changed the status of a task that an execution created;
    # TaskCommandWorkflow then signals that execution with it.
    task_status_changed: TaskStatusChanged | None = None


class CommandFailure(BaseModel):
    """Details carried by a non-retryable ApplicationError, for the API to map to a problem.

    The error's ``type`` is one of: ``NotFound`` (404), ``InvalidValue`` (422, with ``field``),
    ``DefinitionInvalid`` (422, with ``problems``), ``InvalidTransition`` (409).
    """

    message: str
    field: str | None = None
    problems: list[dict[str, Any]] = Field(default_factory=list)


# -- the execution engine ----------------------------------------------------------------------

EXECUTION_WORKFLOW = "ExecutionWorkflow"
TASK_STATUS_CHANGED_SIGNAL = "task_status_changed"
NAMED_SIGNAL = "signal"  # POST /executions/{id}/signals/{name}
CANCEL_SIGNAL = "cancel"  # POST /executions/{id}/cancel (a Temporal cancel request works too)
PARKED_STEP_SIGNAL = "parked_step"  # POST /executions/{id}/steps/{step_id}/retry | skip
MIGRATE_UPDATE = "migrate"  # POST /definitions/{id}/migrations (dry_run: false)
STATE_QUERY = "state"


def execution_workflow_id(execution_id: str) -> str:
    """The Temporal workflow id of an execution: one workflow per execution, found by id."""
    return f"execution-{execution_id}"


class NamedSignal(BaseModel):
    """Signal `signal`: wakes a `wait_for_signal` step whose `signal` is `name`.

    A signal that arrives before its step is reached is kept until that step runs.
    """

    name: str
    payload: dict[str, Any] = Field(default_factory=dict)


class ParkedStepAction(BaseModel):
    """Signal `parked_step`: retry or skip the step the execution is parked on (`on_failure:
    park`), recorded with who asked and why; ignored unless it is parked on `step_id`."""

    step_id: str
    action: Literal["retry", "skip"]
    actor: str | None = None
    reason: str | None = None


class CancelRequest(BaseModel):
    """Signal `cancel`: cancels the execution (its open tasks too) and records why."""

    reason: str | None = None
    actor: str | None = None


class RetryRequest(BaseModel):
    """What a retried run of a failed or timed-out execution is asked to do (POST
    /executions/{id}/retry): run again from `from_step`, as `actor` asked, for `reason`. The
    run records it first (`WorkflowExecution.Retried`), then takes up the execution's contact,
    ui_status, step outputs and tasks from the store, not from this input."""

    from_step: str
    actor: str | None = None
    reason: str | None = None


class MigrationRequest(BaseModel):
    """Update `migrate`: move the execution to `definition_version` of its definition (its
    normalised body in `definition`), the step it waits in going on as `step_mapping` says
    (else as the step of the same id). `meta` names who asked (the event's actor)."""

    meta: CommandMeta
    definition_version: int
    definition: dict[str, Any]
    step_mapping: dict[str, str] = Field(default_factory=dict)


class MigrationAnswer(BaseModel):
    """What became of a `migrate` update: `moved`, or why not (`reason`)."""

    moved: bool
    reason: str | None = None
    from_version: int
    definition_version: int
    from_step: str | None = None
    to_step: str | None = None


class TaskRef(BaseModel):
    """A task the execution created, as the execution last heard of it."""

    task_id: str
    step_id: str
    status: str = "todo"
    title: str | None = None
    assigned_to: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    completed_at: str | None = None
    version: int | None = None
    # True once the execution's own step output described it: only such tasks are cancelled
    # with the execution (a signal alone cannot make a stranger's task ours).
    assigned: bool = False


class PendingReminder(BaseModel):
    """A `reminder` step's timer: fires at `fire_at` unless its task is done by then."""

    key: str
    step_id: str
    fire_at: datetime
    message: str
    recipient: str
    task_id: str | None = None
    email_to: list[str] = Field(default_factory=list)
    subject: str | None = None


class LoopProgress(BaseModel):
    """How far the for_each step `step_id` has come: carried across continue-as-new, which a
    long loop uses between iterations. `items` is the list as rendered when the loop began."""

    step_id: str
    items: list[Any] = Field(default_factory=list)
    index: int = 0  # the next iteration to run
    outputs: list[dict[str, Any]] = Field(default_factory=list)  # one per iteration run
    size: int = 0  # bytes of `items` and `outputs` as JSON (bounded: MAX_LOOP_BYTES)


class ExecutionState(BaseModel):
    """Everything an execution carries across continue-as-new (and reports to the `state`
    query): where it is, what each step produced, and what it heard while busy."""

    begun: bool = False
    next_step_id: str | None = None
    step_seq: int = 0
    contact_id: str | None = None
    contact: dict[str, Any] = Field(default_factory=dict)
    ui_status: str | None = None
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tasks: dict[str, TaskRef] = Field(default_factory=dict)  # by task id
    step_tasks: dict[str, str] = Field(default_factory=dict)  # assign_task step id -> task id
    signals: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # unconsumed, by name
    reminders: list[PendingReminder] = Field(default_factory=list)
    reminder_counts: dict[str, int] = Field(default_factory=dict)  # by step id
    runs: int = 1  # how many Temporal runs (continue-as-new) this execution has used
    # Steps finished but not yet recorded: the next activity call records them in its save.
    pending: list[StepDone] = Field(default_factory=list)
    # Completed steps that declare `compensate`, in completion order (saga, docs/engine.md).
    compensations: list[str] = Field(default_factory=list)
    # The for_each step under way, if any (see LoopProgress).
    loop: LoopProgress | None = None
    # How many times the execution was retried: a retried run's calls are keyed under
    # `retry-<n>/` so that they never meet the keys of an earlier attempt (same workflow id).
    retries: int = 0


DEFAULT_HISTORY_LIMIT = 10_000


class ExecutionInput(BaseModel):
    """Starts `ExecutionWorkflow` (workflow id `execution-<execution_id>`).

    `definition` is the normalised body of the version the execution runs (name, statuses,
    steps, as stored by `WorkflowDefinition.VersionPublished`): the execution keeps it for its
    whole life even if the definition changes. Without `contact_id`, a contact is created from
    `contact`, or else from the trigger's `contact` mapping rendered against `payload`.
    `state` is set only by the engine itself when it continues as new. `retry` is set by
    POST /executions/{id}/retry: the run takes up the failed execution (`RetryRequest`).
    """

    meta: CommandMeta
    execution_id: str
    definition_id: str
    definition_version: int
    definition: dict[str, Any]
    contact_id: str | None = None
    contact: dict[str, Any] | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] = Field(default_factory=dict)
    state: ExecutionState | None = None
    # Continue as new once the history is this long (or when Temporal suggests it).
    history_limit: int = DEFAULT_HISTORY_LIMIT
    retry: RetryRequest | None = None


class BranchSnapshot(BaseModel):
    """One branch of the parallel step an execution is running: where it is, what it waits for
    (status running | waiting | completed | cancelled)."""

    step_id: str  # the parallel (or for_each) step
    branch: str  # the branch's name (a for_each's own id)
    status: str
    current_step_id: str | None = None
    waiting: Wait | None = None
    iteration: int | None = None  # a for_each's current iteration, from 0


class ExecutionSnapshot(BaseModel):
    """The `state` query's answer: the live view from the workflow itself."""

    execution_id: str
    status: str
    ui_status: str | None
    current_step_id: str | None
    waiting: Wait | None  # what a waiting execution waits for (the domain's one wait model)
    outputs: dict[str, dict[str, Any]]
    tasks: list[TaskRef]
    pending_signals: dict[str, int]
    runs: int
    # While a parallel step runs: each branch's place (empty otherwise).
    branches: list[BranchSnapshot] = Field(default_factory=list)


class ExecutionResult(BaseModel):
    """What `ExecutionWorkflow` returns: its terminal state. A failed or timed-out execution
    still completes its Temporal workflow normally; only a Temporal cancel request ends the
    workflow as cancelled."""

    execution_id: str
    status: Literal[
        "completed", "failed", "cancelled", "timed_out", "compensated", "compensation_failed"
    ]
    ui_status: str | None = None
    step_id: str | None = None
    error: str | None = None


# -- schedule triggers ---------------------------------------------------------------------------

SCHEDULED_EXECUTION_WORKFLOW = "ScheduledExecutionWorkflow"


def definition_schedule_id(definition_id: str) -> str:
    """The Temporal Schedule of a definition whose trigger is `schedule` (one per definition)."""
    return f"definition-schedule-{definition_id}"


class ScheduleSync(BaseModel):
    """Make the definition's Temporal Schedule match it: present with its cron while the
    definition is active with a `schedule` trigger, absent otherwise."""

    org_id: str
    definition_id: str


class ScheduledRun(BaseModel):
    """What a Schedule's firing carries: which definition to run (its current version)."""

    org_id: str
    definition_id: str
