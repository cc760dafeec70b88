"""A definition's statistics (``GET /definitions/{id}/stats``), from the ``execution_stats``
read model (projections/stats.py).

Everything is scoped to one org and one definition, optionally one version, and to executions
created in ``[since, until)``. Percentiles are continuous (``percentile_cont``: interpolated
between the two nearest values), in milliseconds; a percentile over no values is null.

* executions: how many, by status (whatever statuses the events carried), how many ended, the
  success rate (completed / ended), and p50/p95 of the duration of the completed ones (failed
  and cancelled executions end wherever they stopped, which says nothing about how long the
  process takes);
* versions: the same per definition version;
* steps: per step id, how many executions reached it and how many runs it had, how its runs
  ended, p50/p95 of the time spent in it, split into the human wait (task, signal, delay,
  reminder: only runs that waited count) and the machine work, over runs that ended; and how many
  executions wait there now;
* waiting_now: where executions wait now, by step and kind of wait, with the oldest wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from projections.stats import OPEN_STATES

_SCOPE = (
    " org_id = %(org_id)s AND definition_id = %(definition_id)s"
    " AND (%(version)s::int IS NULL OR definition_version = %(version)s::int)"
)
_EXECUTION_RANGE = (
    " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)"
    " AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)"
)
_RUN_RANGE = _EXECUTION_RANGE.replace("created_at", "execution_created_at")

_BY_VERSION_STATUS = (
    "SELECT definition_version AS version, status, count(*) AS n FROM execution_stats WHERE"
    + _SCOPE
    + _EXECUTION_RANGE
    + " GROUP BY 1, 2 ORDER BY 1, 2"
)
# Grouping sets: one row per version and one (version NULL, everything = true) for the whole.
_DURATIONS = (
    "SELECT definition_version AS version, grouping(definition_version) = 1 AS everything,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,"
    " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95"
    " FROM execution_stats WHERE" + _SCOPE + _EXECUTION_RANGE + " AND status = 'completed'"
    " AND duration_ms IS NOT NULL"
    " GROUP BY GROUPING SETS ((definition_version), ())"
)
_STEPS = (
    "SELECT step_id,"
    " (array_agg(step_type ORDER BY execution_created_at DESC, run DESC))[1] AS step_type,"
    " (array_agg(step_name ORDER BY execution_created_at DESC, run DESC))[1] AS step_name,"
    " count(DISTINCT execution_id) AS reached, count(*) AS runs, min(run) AS first_run,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms) AS total_p50,"
    " percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms) AS total_p95,"
    " count(total_ms) AS ended,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) AS wait_p50,"
    " percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_ms) AS wait_p95,"
    " count(wait_ms) AS waited,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY work_ms) AS work_p50,"
    " percentile_cont(0.95) WITHIN GROUP (ORDER BY work_ms) AS work_p95"
    " FROM execution_step_stats WHERE" + _SCOPE + _RUN_RANGE + " GROUP BY step_id"
)
_STEP_OUTCOMES = (
    "SELECT step_id, status, count(*) AS n FROM execution_step_stats WHERE"
    + _SCOPE
    + _RUN_RANGE
    + " GROUP BY 1, 2"
)
_WAITING = (
    "SELECT current_step_id AS step_id, waiting_for, count(*) AS n,"
    " min(waiting_since) AS oldest_since"
    " FROM execution_stats WHERE" + _SCOPE + _EXECUTION_RANGE + " AND status = 'waiting'"
    " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
)


def definition_stats(
    conn: Connection[Any],
    org_id: str,
    definition_id: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    step_order: Sequence[str] = (),
) -> dict[str, Any]:
    """The statistics of one definition (the caller has checked that it exists in the org).

    Steps come in `step_order` (the definition's own list, for a reader who knows it), then any
    other step (one of another version) in the order executions first reached it.
    """
    params = {
        "org_id": org_id,
        "definition_id": definition_id,
        "version": version,
        "since": since,
        "until": until,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        by_version_status = cur.execute(_BY_VERSION_STATUS, params).fetchall()
        durations = cur.execute(_DURATIONS, params).fetchall()
        steps = cur.execute(_STEPS, params).fetchall()
        outcomes = cur.execute(_STEP_OUTCOMES, params).fetchall()
        waiting = cur.execute(_WAITING, params).fetchall()

    whole: dict[str, int] = {}
    per_version: dict[int | None, dict[str, int]] = {}
    for row in by_version_status:
        n = int(row["n"])
        whole[row["status"]] = whole.get(row["status"], 0) + n
        counts = per_version.setdefault(row["version"], {})
        counts[row["status"]] = counts.get(row["status"], 0) + n
    whole_durations: dict[str, Any] = {"p50": None, "p95": None}
    version_durations: dict[int | None, dict[str, Any]] = {}
    for row in durations:
        pair = {"p50": _number(row["p50"]), "p95": _number(row["p95"])}
        if row["everything"]:
            whole_durations = pair
        else:
            version_durations[row["version"]] = pair

    order = {step_id: index for index, step_id in enumerate(step_order)}
    waiting_at: dict[str, int] = {}
    for row in waiting:
        waiting_at[row["step_id"]] = waiting_at.get(row["step_id"], 0) + int(row["n"])
    by_outcome: dict[str, dict[str, int]] = {}
    for row in outcomes:
        by_outcome.setdefault(row["step_id"], {})[row["status"]] = int(row["n"])

    return {
        "definition_id": definition_id,
        "version": version,
        "since": since,
        "until": until,
        "executions": _summary(whole, whole_durations),
        "versions": [
            {"version": key, **_summary(counts, version_durations.get(key))}
            for key, counts in sorted(per_version.items(), key=lambda item: item[0] or 0)
        ],
        "steps": [
            {
                "step_id": row["step_id"],
                "step_type": row["step_type"],
                "step_name": row["step_name"],
                "reached": int(row["reached"]),
                "runs": int(row["runs"]),
                "by_outcome": dict(sorted(by_outcome.get(row["step_id"], {}).items())),
                "time_ms": _percentiles(row, "total", int(row["ended"])),
                "wait_ms": _percentiles(row, "wait", int(row["waited"])),
                "work_ms": _percentiles(row, "work", int(row["ended"])),
                "waiting_now": waiting_at.get(row["step_id"], 0),
            }
            for row in sorted(steps, key=lambda r: _step_key(r, order))
        ],
        "waiting_now": [
            {
                "step_id": row["step_id"],
                "waiting_for": row["waiting_for"],
                "count": int(row["n"]),
                "oldest_since": row["oldest_since"],
            }
            for row in waiting
        ],
    }


def _step_key(row: dict[str, Any], order: dict[str, int]) -> tuple[int, int, str]:
    index = order.get(row["step_id"])
    if index is not None:
        return (0, index, "")
    return (1, int(row["first_run"]), row["step_id"])


def _summary(by_status: dict[str, int], durations: dict[str, Any] | None) -> dict[str, Any]:
    total = sum(by_status.values())
    ended = sum(n for status, n in by_status.items() if status not in OPEN_STATES)
    completed = by_status.get("completed", 0)
    return {
        "total": total,
        "by_status": dict(sorted(by_status.items())),
        "ended": ended,
        "success_rate": None if ended == 0 else round(completed / ended, 4),
        "duration_ms": {
            "count": completed,
            **(durations or {"p50": None, "p95": None}),
        },
    }


def _percentiles(row: dict[str, Any], prefix: str, count: int) -> dict[str, Any]:
    return {
        "count": count,
        "p50": _number(row[f"{prefix}_p50"]),
        "p95": _number(row[f"{prefix}_p95"]),
    }


def _number(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
