"""structlog, configured once per process: JSON lines in production, readable console in dev.

Standard-library loggers (uvicorn, temporalio, psycopg) are routed through the same processors,
so every line of a process has one format and carries the context bound in contextvars
(request id, correlation id, org, workflow id) — `merge_contextvars` comes first for that.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Marks the handler this module installs, so calling `configure_logging` again replaces it
# instead of adding a second one (tests and `bytedash up` may configure more than once).
_HANDLER_NAME = "bytedash"


def configure_logging(log_format: str | None = "console", level: int | str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr in `log_format` (json|console); idempotent."""
    as_json = log_format == "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        # Plain tracebacks: rich ones print local variables, and those hold bearer tokens.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if as_json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    )

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    # uvicorn installs its own handlers when given a log config; ours runs with log_config=None
    # and its records propagate to the root handler above. Its access log is replaced by the
    # API's own one line per request (with route, status, duration and ids).
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
