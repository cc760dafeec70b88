"""What every step type is made of, and the two models all of them share: StepRef and Wait.

A step type is a `StepType`: its name, a frozen pydantic model of its config as the runner uses it
(templates already rendered), and the definition-time `check` of the raw config (templates not
yet rendered, every problem reported at once). A value changes form once: the definition holds
JSON, the typed config holds Python values (a `due_date` is a `datetime` from there on, through
the activity and into the event), and is validated twice: when the definition is published and
when the rendered config is parsed.

Pure domain: the workflow imports these models through the sandbox, the services use them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from domain.errors import DomainError
from domain.steps.checks import StepConfigChecker


class StepRef(BaseModel):
    """Which step a record belongs to, as the timeline names it."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    name: str
    # A step inside a container step: which one, and where in it (a `parallel` step's branch:
    # {"step_id", "branch"}); None for a step of the definition's own sequence. The timeline
    # shows it on the step's entry.
    within: dict[str, Any] | None = None

    def __init__(self, id: str, type: str, name: str, **data: Any) -> None:
        # Positional too: services and tests name steps as StepRef("step_2", "assign_task", …).
        # Pydantic validates through this __init__ as well, hence `data` (unknown keys).
        super().__init__(id=id, type=type, name=name, **data)


WaitingFor = Literal["task", "signal", "delay", "reminder"]


class Wait(BaseModel):
    """What a waiting step waits for, and until when: recorded on the execution (`detail`),
    reported by the workflow's `state` query (with `step_id`), and moved by a reminder."""

    model_config = ConfigDict(frozen=True)

    waiting_for: WaitingFor
    until: datetime | None = None
    step_id: str | None = None
    task_id: str | None = None
    signal: str | None = None

    def __init__(
        self,
        waiting_for: WaitingFor,
        until: datetime | None = None,
        *,
        step_id: str | None = None,
        task_id: str | None = None,
        signal: str | None = None,
        **data: Any,
    ) -> None:
        # Pydantic validates through this __init__ as well, hence `data` (`detail`, see below).
        super().__init__(
            waiting_for=waiting_for,
            until=until,
            step_id=step_id,
            task_id=task_id,
            signal=signal,
            **data,
        )

    @model_validator(mode="before")
    @classmethod
    def _from_detail(cls, data: Any) -> Any:
        """Calls scheduled before this model named the task or signal in `detail`; a reminder
        still in flight across the upgrade keeps them."""
        if isinstance(data, dict) and isinstance(data.get("detail"), dict):
            data = dict(data)
            detail = data.pop("detail")
            for key in ("task_id", "signal"):
                if data.get(key) is None and detail.get(key) is not None:
                    data[key] = detail[key]
        return data

    @property
    def detail(self) -> dict[str, Any]:
        """The keys of `ExecutionStepWaiting.detail`: the task or the signal waited for."""
        detail: dict[str, Any] = {}
        if self.task_id is not None:
            detail["task_id"] = self.task_id
        if self.signal is not None:
            detail["signal"] = self.signal
        return detail


class StepDone(BaseModel):
    """A step the workflow finished without any activity of its own (a condition, a status
    change, the end of a wait): recorded later, in the save of the next call, started and
    completed at `at`, the workflow's time when it ran. `ui_status` is an update_status step's
    new status, changed in the same save."""

    model_config = ConfigDict(frozen=True)

    step: StepRef
    at: datetime
    output: dict[str, Any] = Field(default_factory=dict)
    ui_status: str | None = None
    # Carried by a call that was cancelled, which may or may not have saved it: recorded only
    # if the step's latest run did not already complete at `at`.
    maybe_recorded: bool = False


class StepConfig(BaseModel):
    """Base of every step type's config: frozen, and tolerant of keys it does not know (builder
    UIs keep their own notes in configs)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class StepConfigError(DomainError):
    """A rendered config that its step type cannot use; `field` is the config key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


Check = Callable[[StepConfigChecker, Mapping[str, Any]], None]


@dataclass(frozen=True)
class StepType:
    """One step type: what the registry (domain.steps) maps its name to.

    `runner` names the module whose `run(engine, step, config)` carries the step out inside the
    workflow; None means the worker's own module for the type (worker/workflows/steps/<name>.py).
    `nested` names the config keys that hold steps of their own (a `parallel` step's
    `branches`): the engine leaves their templates for those steps to render when they run.
    """

    name: str
    config: type[StepConfig]
    check: Check
    runner: str | None = None
    nested: tuple[str, ...] = ()

    def parse(self, rendered: Mapping[str, Any]) -> StepConfig:
        """The typed config of a rendered config; StepConfigError names the first bad field."""
        try:
            return self.config.model_validate(dict(rendered))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "config"
            cause = (first.get("ctx") or {}).get("error")
            if isinstance(cause, ValueError):
                message = f"'{field}' {cause}"
            elif first["type"] == "missing":
                message = f"'{field}' is missing."
            else:
                message = f"'{field}' is {first.get('input')!r}: {first['msg']}."
            raise StepConfigError(field, message) from None


# -- how rendered values become typed ones ------------------------------------------------------
# Templates render to native values (a number stays a number), so these are lenient where the
# engine always was: text accepts any scalar, a number that is absent or not a number is 0.


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"must be an object, not {value!r}.")
    return value


def _date(value: Any) -> datetime | None:
    if value is None or value == "" or isinstance(value, datetime):
        return value if isinstance(value, datetime) else None
    text = _text(value) or ""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"is {value!r}, not an ISO-8601 date-time with a timezone.")
    return parsed


def addresses(value: Any) -> list[str]:
    """`to`, `cc`: one address, a comma-separated list, or a list of either."""
    items = value if isinstance(value, list) else [value]
    return [
        address.strip()
        for item in items
        if item is not None
        for address in str(item).split(",")
        if address.strip()
    ]


def _some_addresses(value: Any) -> list[str]:
    found = addresses(value)
    if not found:
        raise ValueError(f"rendered to no email address ({value!r}).")
    return found


Text = Annotated[str | None, BeforeValidator(_text)]
Number = Annotated[float, BeforeValidator(number)]
Object = Annotated[dict[str, Any], BeforeValidator(_object)]
Date = Annotated[datetime | None, BeforeValidator(_date)]
Addresses = Annotated[list[str], BeforeValidator(addresses)]
SomeAddresses = Annotated[list[str], BeforeValidator(_some_addresses)]


def some_date(value: Any) -> datetime:
    """A date that must be there (`set_due_date.due_date`)."""
    parsed = _date(value)
    if parsed is None:
        raise ValueError(f"is {value!r}, not an ISO-8601 date-time with a timezone.")
    return parsed


RequiredDate = Annotated[datetime, BeforeValidator(some_date)]
Ident = Annotated[str, BeforeValidator(str)]
"""A step id or a name, as text whatever the template rendered."""

__all__ = [
    "Addresses",
    "Check",
    "Date",
    "Field",
    "Ident",
    "Number",
    "Object",
    "RequiredDate",
    "SomeAddresses",
    "StepConfig",
    "StepConfigError",
    "StepDone",
    "StepRef",
    "StepType",
    "Text",
    "Wait",
    "WaitingFor",
]
