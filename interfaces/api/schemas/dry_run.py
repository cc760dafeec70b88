"""``POST /definitions/dry-run``: a definition (or a stored version), a sample start and the
scripted outcomes of what people and other systems would do; answered with the timeline the
real interpreter would record (worker/dry_run.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from interfaces.api.schemas.common import PublicModel, RequestBody

DURATION = "ISO 8601 duration (P2D, PT4H) or seconds, of simulated time"
LONGEST = timedelta(days=3650)


class TaskOutcome(RequestBody):
    status: Literal["done", "cancelled"] = "done"
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Merged into the task's metadata (an outcome)."
    )
    after: timedelta = Field(
        timedelta(0), ge=timedelta(0), le=LONGEST, description=f"After the wait began: {DURATION}."
    )


class SignalOutcome(RequestBody):
    payload: dict[str, Any] = Field(default_factory=dict)
    after: timedelta = Field(
        timedelta(0), ge=timedelta(0), le=LONGEST, description=f"After the wait began: {DURATION}."
    )


class HttpAnswer(RequestBody):
    status_code: int = Field(200, ge=100, le=599)
    body: Any = Field(None, description="JSON, or text when a string.")


class DryRunRequest(RequestBody):
    """Exactly one of `definition` (a body, as for POST /definitions) or `definition_id`
    (with `version`, default its current one)."""

    definition: dict[str, Any] | None = None
    definition_id: str | None = Field(None, max_length=200)
    version: int | None = Field(None, ge=1)
    payload: dict[str, Any] = Field(default_factory=dict, description="The trigger's payload.")
    input: dict[str, Any] = Field(default_factory=dict)
    contact: dict[str, Any] | None = Field(
        None, description="The contact's fields (else the trigger's mapping of the payload)."
    )
    tasks: dict[str, TaskOutcome] = Field(
        default_factory=dict,
        description="By the id of the step that waits for the task, or that assigned it.",
    )
    signals: dict[str, SignalOutcome] = Field(default_factory=dict, description="By name.")
    http: dict[str, HttpAnswer] = Field(
        default_factory=dict,
        description="By URL (or 'METHOD URL'); any other call answers 200 with {}.",
    )
    llm_content: str = Field("{}", max_length=100_000, description="What every llm step gets.")
    max_steps: int = Field(200, ge=1, le=1000, description="Step starts before it is a loop.")

    @model_validator(mode="after")
    def _one_definition(self) -> Self:
        if (self.definition is None) == (self.definition_id is None):
            raise ValueError("give either 'definition' (a body) or 'definition_id', not both")
        if self.version is not None and self.definition_id is None:
            raise ValueError("'version' goes with 'definition_id'")
        return self


class DryRunAnswer(PublicModel):
    outcome: Literal["ended", "waits_forever", "loops"] = Field(
        description="ended: the execution ended (see status); waits_forever: a wait that nothing "
        "scripted ends and no timeout ends; loops: steps keep coming back."
    )
    status: str = Field(description="The execution's final status, or 'stopped'.")
    ui_status: str | None
    error: str | None
    output: dict[str, Any] | None
    definition_version: int | None
    started_at: datetime = Field(description="Simulated time, like every time in the answer.")
    ended_at: datetime
    stopped_at_step: str | None
    reason: str | None
    steps: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    emails: list[dict[str, Any]] = Field(description="Would be sent; nothing was.")
    http_requests: list[dict[str, Any]] = Field(description="Would be made; answered by script.")
    branches: list[dict[str, Any]] = Field(description="Each condition's value and branch.")
    delivered: list[dict[str, Any]] = Field(description="The scripted outcomes, when given.")
    reminders: list[dict[str, Any]] = Field(description="Reminders that would be recorded.")
    secrets: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each secret a step references ({step_id, name, set}): whether the org has "
        "it set (names only; no value is read). A call referencing one that is not set fails "
        "its step, as in a real run; one that is set carries '[secret NAME]' instead.",
    )
