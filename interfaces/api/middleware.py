"""ASGI middleware: request ids and log context, access log, metrics, body limit, last-resort 500.

Plain ASGI classes rather than ``BaseHTTPMiddleware``: they run in the request's own task, so
context bound here is the context every log line of the request sees, and the response streams
through untouched.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.api.metrics import ApiMetrics
from interfaces.api.problems import (
    PAYLOAD_TOO_LARGE,
    PROBLEM_JSON,
    internal_error_body,
    problem_response,
)

log = structlog.get_logger("interfaces.api.access")

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_ID_HEADER = "X-Correlation-ID"
# Ids from clients end up in logs, events and headers: accept only short, plain tokens.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Paths probed every few seconds by orchestrators and scrapers: logged at debug, not info.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "<unmatched>"

MAX_BODY_BYTES = 1024 * 1024


def client_id(value: str | None) -> str | None:
    return value if value is not None and _CLIENT_ID.fullmatch(value) else None


class RequestContextMiddleware:
    """Accepts or generates X-Request-ID / X-Correlation-ID, echoes them, binds them to the log
    context, logs one line per request, observes latency, and answers a generic 500 problem
    (with the ids, without a trace) for any exception that escapes the app."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = client_id(headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        correlation_id = client_id(headers.get(CORRELATION_ID_HEADER)) or request_id
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)

        status = 500
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                response_headers = MutableHeaders(scope=message)
                response_headers[REQUEST_ID_HEADER] = request_id
                response_headers[CORRELATION_ID_HEADER] = correlation_id
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
            if started:
                raise  # the status line is gone; nothing better to send now
            response = JSONResponse(
                internal_error_body(scope["path"]), status_code=500, media_type=PROBLEM_JSON
            )
            await response(scope, receive, send_with_ids)
        finally:
            seconds = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(scope["method"], template, status, seconds)
            principal = state.get("principal")
            fields: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "route": template,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            if principal is not None:
                fields["org_id"] = principal.org_id
                fields["user_id"] = principal.user_id
            if scope["path"] in _QUIET_PATHS and status < 400:
                log.debug("http.request", **fields)
            else:
                log.info("http.request", **fields)
            # The context belongs to this request only (an in-process client shares one task).
            structlog.contextvars.clear_contextvars()


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with a 413 problem, whether announced by Content-Length
    or streamed in chunks, before they are buffered whole in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                413,
                f"The request body is larger than {self.max_bytes} bytes.",
                instance=scope["path"],
                type_=PAYLOAD_TOO_LARGE,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside FastAPI's body reading, which re-raises HTTPExceptions to
                    # the problem handlers.
                    raise HTTPException(
                        413, f"The request body is larger than {self.max_bytes} bytes."
                    )
            return message

        await self.app(scope, limited_receive, send)
