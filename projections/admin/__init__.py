"""Admin replay tooling: status, rebuild, verify, reset, and parked (poison) events.

Plain blocking functions over a database URL, each opening its own connection, so the CLI calls
them directly and the API runs them in a thread (or worker) of its own; they share no state and
may run concurrently (one rebuild or reset per projection at a time, across all processes,
enforced with advisory locks). Long ones take `stop` (a `threading.Event`) and `progress`
(``(done_events, total_events, rate, eta_seconds)``; `render_bar`/`TerminalProgress` draw it).

    projection_status(conn, name=None)         position, head, lag, status, parked, rebuild
    rebuild_projection(url, name, …)           rebuild aside from 0, catch up, swap atomically
    verify_projection(url, name, …)            rebuild aside, compare row by row, drop
    reset_projection(url, name, position, …)   0: empty + replay; N: rebuild up to N + swap
    retry_parked(url, name, position=None)     apply parked events again
    skip_parked(url, name, position, reason, actor)
    parked_events(conn, name)                  list them
"""

from projections.admin.compare import ChangedRow, RowKey, TableComparison
from projections.admin.errors import (
    AdminError,
    InvalidPositionError,
    OperationInProgressError,
    ParkedEventNotFoundError,
    RebuildFailedError,
    UnknownProjectionError,
)
from projections.admin.parked import RetryReport, retry_parked, skip_parked
from projections.admin.progress import (
    ProgressCallback,
    ProgressMeter,
    TerminalProgress,
    format_duration,
    render_bar,
)
from projections.admin.rebuild import RebuildReport, rebuild_projection
from projections.admin.reset import reset_projection
from projections.admin.verify import VerifyReport, verify_projection

__all__ = [
    "AdminError",
    "ChangedRow",
    "InvalidPositionError",
    "OperationInProgressError",
    "ParkedEventNotFoundError",
    "ProgressCallback",
    "ProgressMeter",
    "RebuildFailedError",
    "RebuildReport",
    "RetryReport",
    "RowKey",
    "TableComparison",
    "TerminalProgress",
    "UnknownProjectionError",
    "VerifyReport",
    "format_duration",
    "rebuild_projection",
    "render_bar",
    "reset_projection",
    "retry_parked",
    "skip_parked",
    "verify_projection",
]
