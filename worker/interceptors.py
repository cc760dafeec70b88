"""What every activity does around its own work: bind the log context, report refusals.

Once here rather than in each activity: a new activity cannot forget to bind the org and
workflow its log lines belong to, nor let a refusal be retried ten times before the caller
hears of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from application.errors import NotFoundError
from domain.errors import (
    DefinitionInvalidError,
    DomainError,
    InvalidTransitionError,
    InvalidValueError,
)
from worker.contracts import CommandFailure, CommandMeta


def refusal(error: Exception) -> ApplicationError | None:
    """A domain refusal as the non-retryable failure the API maps to 404/422/409; None for
    anything else (a dropped connection, a lock timeout), which Temporal's retry policy keeps.

    A refusal will not change on retry, so retrying it only delays the answer.
    """
    if isinstance(error, NotFoundError):
        return _failure("NotFound", CommandFailure(message=error.message))
    if isinstance(error, DefinitionInvalidError):
        problems = [p.to_dict() for p in error.problems]
        return _failure(
            "DefinitionInvalid", CommandFailure(message=error.message, problems=problems)
        )
    if isinstance(error, InvalidValueError):
        return _failure("InvalidValue", CommandFailure(message=error.message, field=error.field))
    if isinstance(error, InvalidTransitionError):
        return _failure("InvalidTransition", CommandFailure(message=error.message))
    if isinstance(error, DomainError):
        return _failure("InvalidValue", CommandFailure(message=error.message))
    return None


def _failure(kind: str, failure: CommandFailure) -> ApplicationError:
    return ApplicationError(failure.message, failure.model_dump(), type=kind, non_retryable=True)


def log_context(args: Sequence[Any]) -> dict[str, Any]:
    """Who the activity works for, from its input: a command's ``meta``, or a bare ``org_id``
    (schedule activities)."""
    info = activity.info()
    context: dict[str, Any] = {"workflow_id": info.workflow_id, "activity": info.activity_type}
    for arg in args:
        meta = getattr(arg, "meta", None)
        if isinstance(meta, CommandMeta):
            context.update(
                org_id=meta.org_id,
                correlation_id=meta.correlation_id,
                request_id=meta.request_id,
            )
            break
        org_id = getattr(arg, "org_id", None)
        if isinstance(org_id, str):
            context["org_id"] = org_id
            break
    return context


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # Bound here, on the activity's own task: the SDK copies this context into the thread
        # that runs a plain ``def`` activity, so its log lines carry it too.
        with structlog.contextvars.bound_contextvars(**log_context(input.args)):
            try:
                return await self.next.execute_activity(input)
            except Exception as error:
                failure = refusal(error)
                if failure is None:
                    raise
                raise failure from None


class ActivityContextInterceptor(Interceptor):
    """Registered on every worker (``worker.main.build_worker``)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)
