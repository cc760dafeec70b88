"""What every activity does around its own work: bind the log context, report refusals.

Once here rather than in each activity: a new activity cannot forget to bind the org and
workflow its log lines belong to, nor let a refusal be retried ten times before the caller
hears of it.

Three kinds of failure leave an activity:

* a **refusal** (the domain said no: not found, invalid value, invalid transition) will not
  change on retry: it fails at once, non-retryable, and is logged as one line;
* a **data error** (a value Postgres or the codecs cannot store: a NUL character, a lone
  surrogate, a date that overflows in UTC, a model that does not validate) will not change on
  retry either: it is refused as an invalid value, with the reason, the same way;
* anything else (a dropped connection, a lock timeout, a bug) is raised as it is, with its
  traceback, and the caller's retry policy decides.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pydantic
import structlog
from eventsourcing.persistence import DataError as PersistenceDataError
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from application.errors import ConcurrencyError, NotFoundError
from domain.errors import (
    DefinitionInvalidError,
    DomainError,
    InvalidTransitionError,
    InvalidValueError,
)
from worker.contracts import CommandFailure, CommandMeta

log = structlog.get_logger(__name__)

# The activities of the command workflows: an HTTP caller waits on them. A command that keeps
# colliding with concurrent writers after the service's own retries is refused (409, "try
# again") rather than retried behind the caller's back; an execution's recording keeps
# retrying it (its step must not fail because a task was busy).
COMMAND_ACTIVITIES = frozenset({"task_command", "contact_command", "definition_command"})
# Longest reason kept from a data error: Postgres appends the offending data as context.
MAX_REASON = 300
# Errors that say a value can never be stored, whoever raised them: the driver, the event
# store's wrapper of it (eventsourcing's DataError), the codecs, date arithmetic.
DATA_ERRORS = (psycopg.DataError, PersistenceDataError, UnicodeError, OverflowError)


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


def data_refusal(error: BaseException) -> ApplicationError | None:
    """A value that can never be stored as the non-retryable `InvalidValue` failure it is;
    None when `error` is not such a value.

    Postgres refuses NUL characters in text and ``\\u0000`` in JSON (``DataError``), the codecs
    refuse lone surrogates (``UnicodeError``), a date that overflows in UTC raises
    ``OverflowError``, and a model that does not validate raises pydantic's
    ``ValidationError``: ten attempts would give the same answer ten times.
    """
    if isinstance(error, pydantic.ValidationError):
        first = error.errors()[0] if error.error_count() else {"loc": (), "msg": str(error)}
        field = ".".join(str(part) for part in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        return _failure("InvalidValue", CommandFailure(message=_printable(message), field=field))
    causes = list(_chain(error))
    data_error = next((e for e in causes if isinstance(e, DATA_ERRORS)), None)
    if data_error is not None:
        # The driver's own error says it best, without the statement Postgres quotes with it.
        driver = next((e for e in causes if isinstance(e, psycopg.DataError)), None)
        reason = _reason(driver) if driver is not None else str(data_error)
        reason = _printable(" ".join(reason.split()))[:MAX_REASON].strip()
        message = f"The command's data cannot be stored: {reason or type(data_error).__name__}"
        return _failure("InvalidValue", CommandFailure(message=message))
    return None


def _reason(error: psycopg.DataError) -> str:
    """Postgres's message and detail (``unsupported Unicode escape sequence: \\u0000 cannot
    be converted to text.``); the driver's own message when it refused before sending."""
    primary = error.diag.message_primary
    if not primary:
        return str(error)
    detail = error.diag.message_detail
    return f"{primary}: {detail}" if detail else primary


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and what caused it: the event store wraps the driver's errors in its own."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _printable(text: str) -> str:
    """`text` without what made the data unstorable (NUL, lone surrogates), so that the reason
    itself can be recorded and shown."""
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def _failure(kind: str, failure: CommandFailure) -> ApplicationError:
    # BENIGN: Temporal's activity worker then logs the failure at DEBUG instead of a WARNING
    # with a traceback; the interceptor logs the one line that matters.
    return ApplicationError(
        failure.message,
        failure.model_dump(),
        type=kind,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def _conflict(error: ConcurrencyError) -> ApplicationError:
    return _failure("InvalidTransition", CommandFailure(message=error.message))


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


def command_name(args: Sequence[Any]) -> str | None:
    """What the activity was asked to do, for the refusal's log line: the command's ``kind``
    (``complete_task``), an older command's ``action``, else the input's class."""
    for arg in args:
        for attribute in ("kind", "action"):
            value = getattr(arg, attribute, None)
            if isinstance(value, str):
                return value
        return type(arg).__name__
    return None


def classify(error: Exception, activity_type: str) -> ApplicationError | None:
    """The non-retryable failure `error` stands for, or None when it is a real error."""
    failure = refusal(error) or data_refusal(error)
    if (
        failure is None
        and isinstance(error, ConcurrencyError)
        and activity_type in COMMAND_ACTIVITIES
    ):
        failure = _conflict(error)
    return failure


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # Bound here, on the activity's own task: the SDK copies this context into the thread
        # that runs a plain ``def`` activity, so its log lines carry it too.
        with structlog.contextvars.bound_contextvars(**log_context(input.args)):
            try:
                return await self.next.execute_activity(input)
            except Exception as error:
                failure = classify(error, activity.info().activity_type)
                if failure is None:
                    raise
                _log_refusal(failure, error, input.args)
                raise failure from None


def _log_refusal(failure: ApplicationError, error: Exception, args: Sequence[Any]) -> None:
    """One line, no traceback: a refusal is an expected outcome. A data error is a warning
    (the caller sent, or a step rendered, something that can never be stored); a refusal by
    the domain is information."""
    fields = {
        "refusal": failure.type,
        "command": command_name(args),
        "reason": failure.message,
        "error_type": type(error).__name__,
        "attempt": activity.info().attempt,
    }
    if isinstance(error, DomainError | NotFoundError):
        log.info("activity.refused", **fields)
    else:
        log.warning("activity.refused", **fields)


class ActivityContextInterceptor(Interceptor):
    """Registered on every worker (``worker.main.build_worker``)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)
