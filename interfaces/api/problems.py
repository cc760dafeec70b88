"""The one place where errors become HTTP answers: RFC 9457 ``application/problem+json``.

Every error a client can see goes through `problem_response`, whether it comes from FastAPI
(validation, unknown route, wrong method), from our routes (`ProblemError`, built by the helpers
below), from a command (`interfaces.api.commands.CommandError`: refused, crashed, not visible
yet), from the read side (a bad cursor), from infrastructure (database or Temporal unreachable)
or from a bug (a generic 500 without a stack trace). Clients therefore parse one shape, and a
bad field is always named in ``errors`` as ``{"field", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
import psycopg_pool
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError

from interfaces.api.commands import (
    CommandCrashedError,
    CommandError,
    CommandRefusedError,
    ExecutionNotRunningError,
    IdempotencyKeyReusedError,
    NotVisibleYetError,
    ResourceGoneError,
)
from projections.errors import InvalidCursorError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
# Problem types are relative URI references naming the kind of problem (RFC 9457 §3.1.1);
# "about:blank" when the status code says it all.
VALIDATION = "/problems/validation-error"
UNAUTHENTICATED = "/problems/unauthenticated"
FORBIDDEN = "/problems/forbidden"
NOT_FOUND = "/problems/not-found"
CONFLICT = "/problems/conflict"
IDEMPOTENCY_KEY_REUSED = "/problems/idempotency-key-reused"
NOT_VISIBLE_YET = "/problems/not-visible-yet"
COMMAND_FAILED = "/problems/command-failed"
UNAVAILABLE = "/problems/service-unavailable"
PAYLOAD_TOO_LARGE = "/problems/payload-too-large"
INTERNAL = "/problems/internal-error"

ErrorItem = Mapping[str, Any]


class ProblemError(Exception):
    """Raised by routes and dependencies to answer with a problem; handled in this module."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: Sequence[ErrorItem] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.title = title
        self.errors = errors
        self.headers = headers
        self.extra = extra


def not_found(kind: str, resource_id: str) -> ProblemError:
    """The same answer for a missing id, a malformed id and another org's id."""
    return ProblemError(404, f"{kind} {resource_id} was not found.", type_=NOT_FOUND)


def invalid(field: str, message: str, *, location: str = "body") -> ProblemError:
    """A request a route refuses after FastAPI's validation, naming the field."""
    return ProblemError(
        422,
        message,
        type_=VALIDATION,
        title="Invalid request",
        errors=[{"field": field, "message": message, "location": location}],
    )


def conflict(message: str) -> ProblemError:
    """The resource's state does not allow the request."""
    return ProblemError(409, message, type_=CONFLICT)


def command_problem(error: CommandError) -> ProblemError:
    """What a command that came to no outcome looks like over HTTP."""
    extra: dict[str, Any] = {"workflow_id": error.workflow_id, **error.extra}
    if isinstance(error, CommandRefusedError):
        return _refusal(error, extra)
    if isinstance(error, NotVisibleYetError):
        return ProblemError(
            504,
            f"The command was accepted but is not visible yet: {error.why}. "
            "Read the resource again later, or follow the workflow.",
            type_=NOT_VISIBLE_YET,
            title="Not visible yet",
            extra={**extra, "id": error.resource_id},
        )
    if isinstance(error, ResourceGoneError):
        return ProblemError(
            404, f"{error.resource_id} was not found.", type_=NOT_FOUND, extra=extra
        )
    if isinstance(error, IdempotencyKeyReusedError):
        return ProblemError(
            422,
            "This Idempotency-Key was already used for a different request.",
            type_=IDEMPOTENCY_KEY_REUSED,
            title="Idempotency-Key reused",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "message": "Use a new key for a new request.",
                    "location": "header",
                }
            ],
            extra=extra,
        )
    if isinstance(error, ExecutionNotRunningError):
        return conflict(f"execution {error.execution_id} is no longer running.")
    if not isinstance(error, CommandCrashedError):
        log.error("command.unmapped_error", error=repr(error))
    return ProblemError(
        500,
        "The command failed in the worker; it has been logged.",
        type_=COMMAND_FAILED,
        title="Command failed",
        extra=extra,
    )


def _refusal(error: CommandRefusedError, extra: dict[str, Any]) -> ProblemError:
    """A refusal as 404/422/409, in the words the worker used."""
    failure = error.failure
    if error.kind == "NotFound":
        return ProblemError(404, failure.message, type_=NOT_FOUND, extra=extra)
    if error.kind == "InvalidTransition":
        return ProblemError(409, failure.message, type_=CONFLICT, extra=extra)
    if error.kind == "DefinitionInvalid":
        errors = [
            {
                "field": str(problem.get("field") or "body"),
                "message": str(problem.get("message") or ""),
                "step_id": problem.get("step_id"),
                "location": "body",
            }
            for problem in failure.problems
        ]
        return ProblemError(
            422,
            failure.message,
            type_=VALIDATION,
            title="Invalid definition",
            errors=errors,
            extra=extra,
        )
    return ProblemError(
        422,
        failure.message,
        type_=VALIDATION,
        title="Invalid request",
        errors=[{"field": failure.field or "body", "message": failure.message, "location": "body"}],
        extra=extra,
    )


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str | None,
    type_: str = "about:blank",
    title: str | None = None,
    errors: Sequence[ErrorItem] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = [dict(item) for item in errors]
    if extra:
        body.update({key: value for key, value in extra.items() if key not in body})
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None,
    type_: str = "about:blank",
    title: str | None = None,
    errors: Sequence[ErrorItem] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(
            status, detail, instance=instance, type_=type_, title=title, errors=errors, extra=extra
        ),
        status_code=status,
        headers=dict(headers) if headers else None,
        media_type=PROBLEM_JSON,
    )


def from_error(request: Request, error: ProblemError) -> JSONResponse:
    return problem_response(
        error.status,
        error.detail,
        instance=request.url.path,
        type_=error.type_,
        title=error.title,
        errors=error.errors,
        headers=error.headers,
        extra=error.extra,
    )


def validation_errors(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI/pydantic error dicts as ``{"field", "message", "location"}`` items.

    ``field`` is the dotted path below the location (``fields.tags[0]``, ``limit``), or the
    location itself (``body``) when the whole part is wrong, e.g. malformed JSON.
    """
    items: list[dict[str, Any]] = []
    for error in raw:
        loc = tuple(error.get("loc", ()))
        location = str(loc[0]) if loc else "body"
        path = loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            items.append(
                {
                    "field": "body",
                    "message": f"The body is not valid JSON: {reason}.",
                    "location": "body",
                }
            )
            continue
        items.append(
            {
                "field": _dotted(path) or location,
                "message": str(error.get("msg", "Invalid value")),
                "location": location,
            }
        )
    return items


def _dotted(path: Sequence[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# What FastAPI raises (as a 400, from the parser's error) when a JSON body cannot be decoded
# for a reason other than a syntax error: not UTF-8, or nested past the interpreter's
# recursion limit. docs/api.md promises 422 naming the body for every malformed body.
BODY_PARSE_ERROR = "There was an error parsing the body"


def _unparsable_body(request: Request, cause: BaseException | None) -> JSONResponse:
    if isinstance(cause, UnicodeDecodeError):
        message = "The body is not valid JSON: it is not UTF-8 text."
    elif isinstance(cause, RecursionError):
        message = "The body is not valid JSON: it is nested too deeply."
    else:
        message = "The body could not be parsed."
    return problem_response(
        422,
        message,
        instance=request.url.path,
        type_=VALIDATION,
        title="Invalid request",
        errors=[{"field": "body", "message": message, "location": "body"}],
    )


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only the first
    route's), in the order an ``Allow`` header lists them."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE and route.methods:
            methods.update(route.methods)
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    """Register every exception handler; called once by the app factory."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return from_error(request, exc)

    async def on_command_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CommandError)
        return from_error(request, command_problem(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc.errors())
        fields = ", ".join(dict.fromkeys(item["field"] for item in errors))
        return problem_response(
            422,
            f"The request is invalid: {fields}." if fields else "The request is invalid.",
            instance=request.url.path,
            type_=VALIDATION,
            title="Invalid request",
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else _phrase(status)
        headers = dict(exc.headers or {})
        if status == 400 and detail == BODY_PARSE_ERROR:
            return _unparsable_body(request, exc.__cause__)
        if status == 404 and detail == _phrase(404):
            detail = f"Nothing is served at {request.method} {request.url.path}."
        elif status == 405:
            allowed = allowed_methods(request)
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            if allowed:
                headers["Allow"] = allowed
            detail = f"{request.method} is not allowed here" + (
                f"; use {allowed}." if allowed else "."
            )
        elif status == 413:
            return problem_response(
                413,
                detail,
                instance=request.url.path,
                type_=PAYLOAD_TOO_LARGE,
                headers=exc.headers,
            )
        return problem_response(
            status,
            detail,
            instance=request.url.path,
            type_=NOT_FOUND if status == 404 else "about:blank",
            headers=headers or None,
        )

    async def on_cursor(request: Request, exc: Exception) -> JSONResponse:
        message = str(exc)
        return problem_response(
            422,
            message,
            instance=request.url.path,
            type_=VALIDATION,
            title="Invalid request",
            errors=[{"field": "cursor", "message": message, "location": "query"}],
        )

    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database.unavailable", error=str(exc))
        return problem_response(
            503,
            "The database is unavailable; try again shortly.",
            instance=request.url.path,
            type_=UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    async def on_temporal_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("temporal.unavailable", error=str(exc))
        return problem_response(
            503,
            "The workflow service is unavailable; the command was not accepted. Try again.",
            instance=request.url.path,
            type_=UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(CommandError, on_command_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(InvalidCursorError, on_cursor)
    app.add_exception_handler(psycopg_pool.PoolTimeout, on_database_down)
    app.add_exception_handler(psycopg.OperationalError, on_database_down)
    app.add_exception_handler(RPCError, on_temporal_down)


def internal_error_body(instance: str | None) -> dict[str, Any]:
    """The generic 500: says nothing about the cause (that goes to the log), never a trace."""
    return problem_body(
        500,
        "The server failed to handle this request; it has been logged.",
        instance=instance,
        type_=INTERNAL,
    )
