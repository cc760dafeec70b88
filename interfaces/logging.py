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

from interfaces.log_masks import mask_sensitive

# Marks the handler this module installs, so calling `configure_logging` again replaces it
# instead of adding a second one (tests and `bytedash up` may configure more than once).
_HANDLER_NAME = "bytedash"


class _StderrLogger:
    """Where structlog's loggers write: whatever `sys.stderr` is at the moment of the line.

    Not structlog's `WriteLogger`, which keeps the stream it was given: a stream replaced later
    (test runners capture and close theirs) made every following line raise, where the
    standard library's handler reports the failure and goes on. A line that cannot be written
    is dropped the same way, never raised into the code that logged it. Carries the name
    `get_logger(__name__)` gave it, which `add_logger_name` reads as it would a
    standard-library logger's.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        stream = sys.stderr
        try:
            stream.write(message + "\n")
            stream.flush()
        except (ValueError, OSError):
            pass

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "")


def configure_logging(log_format: str | None = "console", level: int | str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr in `log_format` (json|console); idempotent.

    structlog's loggers render and write their lines themselves (filtered by level before any
    work is done); only the standard library's records go through a logging handler, whose
    formatter runs the same processors and renderer, so both kinds of line look alike. Handing
    structlog's events to the standard library first cost a record, a handler and a formatter
    per line: the API's access log line was 12% of its CPU per read (bench.api --load).
    """
    as_json = log_format == "json"
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        # Plain tracebacks: rich ones print local variables, and those hold bearer tokens.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Tracebacks become text before masking, in both formats: the console renderer would
    # otherwise format them itself, after mask_sensitive, and an exception's message (an
    # email address a validation error quotes, a secret value a client echoed) would reach
    # the terminal and bytedash.log. It prints the text as given.
    tracebacks: list[Any] = [structlog.processors.format_exc_info]
    # Last before rendering, after tracebacks are text: no line carries an email address, a
    # phone number, a token or a secret value (interfaces/log_masks.py).
    structlog.configure(
        processors=[*shared, *tracebacks, mask_sensitive, renderer],
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    final += tracebacks
    final.append(mask_sensitive)
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
