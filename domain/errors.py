"""Errors the domain raises.

The HTTP layer maps these to problem responses, so each carries a human sentence (`message`) that
can be shown to a user as is, plus the structured bits (`field`, `problems`) a client needs to point
at the offending input. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransitionError(DomainError):
    """The command is well formed but the aggregate's current state does not allow it."""


class InvalidValueError(DomainError):
    """A command argument is malformed; `field` names it so a client can highlight it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow definition.

    `field` is a path into the submitted body (`steps[2].config.then_goto`) so that a builder UI
    can put the message next to the input that caused it.
    """

    field: str
    message: str
    step_id: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message, "step_id": self.step_id}


class DefinitionInvalidError(DomainError):
    """A workflow definition was refused; `problems` lists every reason at once.

    Reporting all problems together spares builder users a fix-one-resubmit loop.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        if count == 0:
            summary = "The workflow definition is invalid."
        else:
            first = self.problems[0]
            more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
            summary = f"The workflow definition is invalid: {first.field}: {first.message}{more}"
        super().__init__(summary)


class TemplateSyntaxError(DomainError):
    """A `{{ ... }}` template cannot be parsed; `position` is the 0-based offset of its `{{`."""

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position


class TemplateResolutionError(DomainError):
    """A template's path does not exist in the data it is rendered against."""

    def __init__(self, message: str, *, expression: str, segment: str) -> None:
        super().__init__(message)
        self.expression = expression
        self.segment = segment
