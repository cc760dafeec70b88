"""The ``execution_stats`` read model: the durations behind a definition's statistics.

Two tables, both keyed so that a rebuild and ``verify`` compare them row by row:

* ``execution_stats``: one row per execution — its definition and version, its status, when it
  was created, started and ended, its duration, and where it waits now (step, kind, since when).
* ``execution_step_stats``: one row per step *run* (a step a ``then_goto`` loop runs twice has
  two), numbered per execution in start order — when it started and ended, how it ended, and its
  time split into the human wait (from its first ``Waiting`` event: a task, a signal, a delay, a
  reminder) and the machine work (the rest).

Percentiles are not kept here: ``projections/queries/stats.py`` computes them with
``percentile_cont`` over these rows at query time, so any version or time range can be asked for
without a table per combination.

Statuses are not a fixed list. The engine's own events (``Started``, the step events,
``Completed``, ``Failed``, ``Cancelled``, ``TimedOut``, and saga compensation's
``CompensationStarted``, which makes it ``compensating`` and ends the step that failed, and
``CompensationStepStarted``, a run of the undoing step) have branches here; for any other
``WorkflowExecution`` event the domain is asked (`domain_effect`): the event's own ``apply`` runs
on a blank execution holding the step it names, and the status it leaves, and the step's end if
it ended it, are taken (``StepParked`` → ``needs_attention``). Failing that, the event sets the
status it carries in a ``status`` field, or the one its name spells when that is a domain state.
An execution has *ended* when its status is not one of the domain's open states (pending,
running, waiting, compensating, and whatever else ``domain.execution`` counts as not terminal);
one that opens again (a retry) loses its end until it ends anew. Every event type of the
aggregate is read, so an event class added to ``WorkflowExecution`` reaches this projection
without a change here; a rebuild applies it to the past.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from psycopg import Connection, sql
from psycopg.rows import dict_row

from domain.execution import (
    COMPENSATING,
    STATES,
    STEP_WAITING,
    TERMINAL_STATES,
    WorkflowExecution,
)
from domain.execution import STEP_STARTED as STEP_OPEN
from projections.base import Projection
from projections.errors import UnexpectedEventError
from projections.events import RecordedEvent
from projections.rows import id_text
from projections.tables import TableNames

NAME = "execution_stats"
EXECUTIONS = "execution_stats"
STEPS = "execution_step_stats"
PREFIX = "WorkflowExecution."

CREATED = PREFIX + "Created"
STARTED = PREFIX + "Started"
STEP_STARTED = PREFIX + "StepStarted"
STEP_COMPLETED = PREFIX + "StepCompleted"
STEP_FAILED = PREFIX + "StepFailed"
WAITING = PREFIX + "Waiting"
COMPLETED = PREFIX + "Completed"
FAILED = PREFIX + "Failed"
CANCELLED = PREFIX + "Cancelled"
TIMED_OUT = PREFIX + "TimedOut"
COMPENSATION_STARTED = PREFIX + "CompensationStarted"
COMPENSATION_STEP_STARTED = PREFIX + "CompensationStepStarted"

# Events that change nothing these tables hold: not read at all.
IGNORED = frozenset(
    {
        PREFIX + "UiStatusChanged",
        PREFIX + "ReminderSent",
        PREFIX + "EmailSent",
        PREFIX + "HttpRequestMade",
    }
)
KNOWN_STATUS = {
    COMPLETED: "completed",
    FAILED: "failed",
    CANCELLED: "cancelled",
    TIMED_OUT: "timed_out",
}
OPEN_STATES = frozenset(STATES) - frozenset(TERMINAL_STATES)
"""Statuses of an execution that has not ended (from the domain, so a new open state counts)."""

RUN_OPEN = frozenset({"running", "waiting"})

EXECUTION_COLUMNS = (
    ("id", "uuid"),
    ("org_id", "text"),
    ("definition_id", "text"),
    ("definition_version", "int4"),
    ("status", "text"),
    ("current_step_id", "text"),
    ("waiting_for", "text"),
    ("waiting_since", "timestamptz"),
    ("step_runs", "int4"),
    ("created_at", "timestamptz"),
    ("started_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("duration_ms", "float8"),
    ("updated_at", "timestamptz"),
    ("version", "int4"),
)
STEP_COLUMNS = (
    ("execution_id", "uuid"),
    ("run", "int4"),
    ("org_id", "text"),
    ("definition_id", "text"),
    ("definition_version", "int4"),
    ("execution_created_at", "timestamptz"),
    ("step_id", "text"),
    ("step_type", "text"),
    ("step_name", "text"),
    ("status", "text"),
    ("started_at", "timestamptz"),
    ("waiting_for", "text"),
    ("waiting_since", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("total_ms", "float8"),
    ("wait_ms", "float8"),
    ("work_ms", "float8"),
)

Row = dict[str, Any]


def execution_event_types() -> frozenset[str]:
    """Every event type of the execution aggregate but the ones known to change nothing here."""
    names = {
        PREFIX + name
        for name, value in vars(WorkflowExecution).items()
        if isinstance(value, type) and issubclass(value, DomainEvent)
    }
    return frozenset(names - IGNORED)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def status_of(event: RecordedEvent) -> str | None:
    """The execution status an event sets by what it carries or is called (the fallbacks of
    `domain_effect`): a ``status`` field, or a name that spells a domain state."""
    known = KNOWN_STATUS.get(event.event_type)
    if known is not None:
        return known
    carried = event.data.get("status")
    if isinstance(carried, str) and carried:
        return carried
    spelled = _CAMEL.sub("_", event.event_type.removeprefix(PREFIX)).lower()
    return spelled if spelled in STATES else None


def domain_effect(
    event: RecordedEvent, status: str, run: Row | None
) -> tuple[str | None, str | None]:
    """What an event this module has no branch for does, asked of the domain itself: its class's
    ``apply`` runs on a blank ``WorkflowExecution`` in `status` (holding the open step `run`, if
    the event names one), and the answer is the status it leaves, and how the step ended if
    ``apply`` closed it (None: still open). The domain's own state machine, so an event class
    added to the aggregate (``StepParked`` → ``needs_attention``, its step ended so) is counted
    without a change here. An event it cannot replay this way falls back to `status_of`.
    """
    cls = vars(WorkflowExecution).get(event.event_type.removeprefix(PREFIX))
    if not (isinstance(cls, type) and issubclass(cls, DomainEvent)):
        return status_of(event), None
    try:
        probe = _blank_execution()
        entry: Row | None = None
        if run is not None:
            _event(
                WorkflowExecution.StepStarted,
                event,
                step_id=run["step_id"],
                step_type="",
                step_name="",
            ).apply(probe)
            entry = probe._history[-1]
            if run["status"] == "waiting":
                entry["status"] = STEP_WAITING
        probe._status = status
        _event(cls, event).apply(probe)
    except Exception:  # any failure to replay it means: ask the fallbacks
        return status_of(event), None
    ended = None if entry is None or entry["status"] in (STEP_OPEN, STEP_WAITING) else entry
    return str(probe._status), None if ended is None else str(ended["status"])


def _blank_execution() -> WorkflowExecution:
    """An execution with every attribute its __init__ sets, none of them meaningful."""
    probe = object.__new__(WorkflowExecution)
    names = [
        name
        for name, parameter in inspect.signature(WorkflowExecution.__init__).parameters.items()
        if name != "self" and parameter.kind is parameter.KEYWORD_ONLY
    ]
    blank: dict[str, Any] = dict.fromkeys(names)
    WorkflowExecution.__init__(probe, **blank)
    return probe


def _event(cls: type[Any], recorded: RecordedEvent, **fields: Any) -> Any:
    """The domain event object as the library's mapper makes it from a stored row."""
    state = {
        **(fields or recorded.data),
        "originator_id": recorded.originator_id,
        "originator_version": recorded.originator_version,
        "timestamp": recorded.occurred_at,
    }
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    return event


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds() * 1000.0, 0.0)


@dataclass
class Execution:
    """One execution's row and its step runs still open (the only runs events can change)."""

    row: Row
    open_runs: list[Row]
    changed_runs: dict[int, Row]
    new_runs: set[int] = field(default_factory=set)
    """Runs started by this batch's events: not in the table yet, so written by COPY."""

    def latest_open(self, step_id: str) -> Row | None:
        for run in reversed(self.open_runs):
            if run["step_id"] == step_id:
                return run
        return None

    def start_run(
        self, step_id: str, event: RecordedEvent, step_type: str | None, name: str | None
    ) -> Row:
        row = self.row
        row["step_runs"] += 1
        run: Row = {
            "execution_id": row["id"],
            "run": row["step_runs"],
            "org_id": row["org_id"],
            "definition_id": row["definition_id"],
            "definition_version": row["definition_version"],
            "execution_created_at": row["created_at"],
            "step_id": step_id,
            "step_type": step_type,
            "step_name": name,
            "status": "running",
            "started_at": event.occurred_at,
            "waiting_for": None,
            "waiting_since": None,
            "ended_at": None,
            "total_ms": None,
            "wait_ms": None,
            "work_ms": None,
        }
        self.open_runs.append(run)
        self.changed_runs[run["run"]] = run
        self.new_runs.add(run["run"])
        return run

    def run_for(self, step_id: str, event: RecordedEvent) -> Row:
        """The open run of `step_id`; one started now if the step never announced itself (a
        tolerant read model beats one stuck on an event it cannot place)."""
        run = self.latest_open(step_id)
        if run is None:
            return self.start_run(step_id, event, None, None)
        self.changed_runs[run["run"]] = run
        return run

    def close_run(self, run: Row, status: str, at: datetime) -> None:
        run["status"] = status
        run["ended_at"] = at
        run["total_ms"] = _ms(run["started_at"], at)
        run["wait_ms"] = _ms(run["waiting_since"], at)
        total = run["total_ms"] or 0.0
        run["work_ms"] = max(total - (run["wait_ms"] or 0.0), 0.0)
        self.open_runs.remove(run)
        self.changed_runs[run["run"]] = run


def new_execution(event: RecordedEvent) -> Execution:
    data = event.data
    version = data.get("definition_version")
    row: Row = {
        "id": event.originator_id,
        "org_id": data.get("org_id") or event.org_id,
        "definition_id": id_text(data.get("definition_id")),
        "definition_version": None if version is None else int(version),
        "status": "pending",
        "current_step_id": None,
        "waiting_for": None,
        "waiting_since": None,
        "step_runs": 0,
        "created_at": event.occurred_at,
        "started_at": None,
        "ended_at": None,
        "duration_ms": None,
        "updated_at": event.occurred_at,
        "version": event.originator_version,
    }
    return Execution(row, [], {})


def apply(execution: Execution | None, event: RecordedEvent) -> Execution:
    """`execution` after `event` (changed in place; a new one for ``Created``)."""
    if event.event_type == CREATED:
        if execution is not None:
            return execution  # a second creation is a replayed one: the row already holds it
        return new_execution(event)
    if execution is None:
        raise UnexpectedEventError(
            f"{event.event_type} at position {event.position} is for execution "
            f"{event.originator_id}, which has no row: its creation event was never projected"
        )
    row = execution.row
    if event.originator_version <= row["version"]:
        return execution
    row["version"] = event.originator_version
    row["updated_at"] = event.occurred_at
    data = event.data
    kind = event.event_type
    if kind == STARTED:
        _set_status(row, "running", event)
        if row["started_at"] is None:
            row["started_at"] = event.occurred_at
    elif kind in (STEP_STARTED, COMPENSATION_STEP_STARTED):
        # A step run while compensations run (one of them, or the undoing step itself) leaves
        # the execution compensating.
        if row["status"] != COMPENSATING:
            _set_status(row, "running", event)
        _not_waiting(row)
        row["current_step_id"] = data["step_id"]
        execution.start_run(data["step_id"], event, data.get("step_type"), data.get("step_name"))
    elif kind == COMPENSATION_STARTED:
        # The step that failed (or the wait that was cancelled) ends here; the undoing steps
        # that follow are runs of their own.
        _set_status(row, COMPENSATING, event)
        outcome = "cancelled" if data.get("cause") == "cancelled" else "failed"
        for run in list(execution.open_runs):
            execution.close_run(run, outcome, event.occurred_at)
    elif kind == WAITING:
        step_id = data["step_id"]
        waiting_for = data.get("waiting_for")
        run = execution.run_for(step_id, event)
        run["status"] = "waiting"
        run["waiting_for"] = waiting_for
        if run["waiting_since"] is None:
            run["waiting_since"] = event.occurred_at
        _set_status(row, "waiting", event)
        row["current_step_id"] = step_id
        row["waiting_for"] = waiting_for
        row["waiting_since"] = run["waiting_since"]
    elif kind in (STEP_COMPLETED, STEP_FAILED):
        step_id = data["step_id"]
        run = execution.run_for(step_id, event)
        execution.close_run(
            run, "completed" if kind == STEP_COMPLETED else "failed", event.occurred_at
        )
        if row["status"] == "waiting" and not _still_waiting(execution):
            _set_status(row, "running", event)
        if row["current_step_id"] == step_id:
            _not_waiting(row)
    elif kind in KNOWN_STATUS:
        _end(execution, KNOWN_STATUS[kind], event)
    else:
        step_id = data.get("step_id")
        named = execution.latest_open(step_id) if isinstance(step_id, str) else None
        status, step_outcome = domain_effect(event, row["status"], named)
        if named is not None and step_outcome is not None:
            execution.close_run(named, step_outcome, event.occurred_at)
        if status == "running" and row["status"] == "waiting" and _still_waiting(execution):
            status = None  # a branch step stopped while another branch still waits
        if status is not None and status != row["status"]:
            _end(execution, status, event)
    moved_to = data.get("definition_version")
    if isinstance(moved_to, int) and not isinstance(moved_to, bool):
        row["definition_version"] = moved_to  # an execution moved to another version
    return execution


def _still_waiting(execution: Execution) -> bool:
    """Whether a step run is still waiting: a branch of a parallel step that waits keeps its
    execution waiting while its siblings finish or stop (as in the executions read model)."""
    return any(run["status"] == "waiting" for run in execution.open_runs)


def _end(execution: Execution, status: str, event: RecordedEvent) -> None:
    """Set `status`; when it is an end, the steps still open end with it."""
    _set_status(execution.row, status, event)
    if status not in OPEN_STATES:
        for run in list(execution.open_runs):
            execution.close_run(run, _run_outcome(status), event.occurred_at)


def _run_outcome(status: str) -> str:
    """How a step still open when its execution ended, ended: a timeout fails it."""
    return "failed" if status == "timed_out" else status


def _not_waiting(row: Row) -> None:
    row["waiting_for"] = None
    row["waiting_since"] = None


def _set_status(row: Row, status: str, event: RecordedEvent) -> None:
    row["status"] = status
    if status in OPEN_STATES:
        row["ended_at"] = None
        row["duration_ms"] = None
        if status != "waiting":
            _not_waiting(row)
        return
    row["ended_at"] = event.occurred_at
    row["duration_ms"] = _ms(row["started_at"] or row["created_at"], event.occurred_at)
    _not_waiting(row)


class ExecutionStatsProjection(Projection):
    """Execution rows and their step runs, loaded, changed in memory and written per batch.

    Its rows hold times, statuses and step ids, never an execution's input, output or errors:
    it reads events with their personal attributes withheld (`reads_personal_data`)."""

    reads_personal_data = False

    def __init__(self) -> None:
        self.name = NAME
        self.event_types = execution_event_types()
        self.tables = TableNames([EXECUTIONS, STEPS])

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        # As in RowProjection: an execution whose first event here is its first ever has no row.
        first: dict[UUID, int] = {}
        for event in events:
            first.setdefault(event.originator_id, event.originator_version)
        loaded = self._load(conn, [key for key, version in first.items() if version > 1])
        existing = set(loaded)
        touched: dict[UUID, Execution] = {}
        for event in events:
            key = event.originator_id
            current = touched.get(key) or loaded.get(key)
            touched[key] = apply(current, event)
        self._store(
            conn,
            EXECUTIONS,
            EXECUTION_COLUMNS,
            ("id",),
            [e.row for e in touched.values()],
            existing,
        )
        # A run started by this batch has a number above every run the table holds for its
        # execution (the numbers come from the execution's row, written with them), so it is
        # COPYed; a run loaded open and changed here is upserted.
        fresh_runs: list[Row] = []
        known_runs: list[Row] = []
        for execution in touched.values():
            for number, run in execution.changed_runs.items():
                (fresh_runs if number in execution.new_runs else known_runs).append(run)
        self._store(conn, STEPS, STEP_COLUMNS, ("execution_id", "run"), fresh_runs, set())
        self._store(conn, STEPS, STEP_COLUMNS, ("execution_id", "run"), known_runs, None)

    def _load(self, conn: Connection[Any], ids: Sequence[UUID]) -> dict[UUID, Execution]:
        if not ids:
            return {}
        found: dict[UUID, Execution] = {}
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(
                    _names(EXECUTION_COLUMNS), self.tables.ident(EXECUTIONS)
                ),
                (list(ids),),
            )
            for row in cur:
                found[row["id"]] = Execution(row, [], {})
            cur.execute(
                sql.SQL(
                    "SELECT {} FROM {} WHERE execution_id = ANY(%s) AND ended_at IS NULL"
                    " ORDER BY execution_id, run"
                ).format(_names(STEP_COLUMNS), self.tables.ident(STEPS)),
                (list(found),),
            )
            for run in cur:
                found[run["execution_id"]].open_runs.append(run)
        return found

    def _store(
        self,
        conn: Connection[Any],
        table: str,
        columns: Sequence[tuple[str, str]],
        keys: Sequence[str],
        rows: Sequence[Row],
        existing: set[UUID] | None,
    ) -> None:
        """COPY the rows that cannot be in the table yet, upsert the others (rows.py says why).

        `existing`: the ids found in the table (rows keyed by ``id``); an empty set says every
        row is new, None that every row may exist (upserted).
        """
        if not rows:
            return
        names = [name for name, _ in columns]
        if existing is None:
            fresh, known = [], list(rows)
        elif not existing:
            fresh, known = list(rows), []
        else:
            fresh = [row for row in rows if row["id"] not in existing]
            known = [row for row in rows if row["id"] in existing]
        physical = self.tables.ident(table).as_string()
        if fresh:
            statement = _copy_text(physical, tuple(columns))
            with conn.cursor() as cur, cur.copy(statement) as copy:
                for row in fresh:
                    copy.write_row([row[name] for name in names])
        if known:
            conn.execute(
                _upsert_text(physical, tuple(columns), tuple(keys)),
                [[row[name] for row in known] for name in names],
            )


# The statements of a table, composed once (as projections/rows.py does): composing them on
# every batch held the GIL in about 4% of the projector's samples under a steady trickle of
# events (py-spy, bench.compare), for the same text every time.
@lru_cache(maxsize=64)
def _copy_text(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.SQL(table), _names(columns)).as_string()


@lru_cache(maxsize=64)
def _upsert_text(table: str, columns: tuple[tuple[str, str], ...], keys: tuple[str, ...]) -> str:
    """`_upsert` for `table`, an identifier already quoted (``"execution_stats__rebuild"``)."""
    return _upsert(sql.SQL(table), columns, keys).as_string()


def _names(columns: Iterable[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)


def _upsert(
    table: sql.Composable, columns: Sequence[tuple[str, str]], keys: Sequence[str]
) -> sql.Composed:
    # Binary arrays (%b): psycopg quotes every element of a text array with a regex, about
    # half the client time of an upsert (measured for rows.py's upserts, the same shape).
    arrays = sql.SQL(", ").join(sql.SQL("%b::{}[]").format(sql.SQL(kind)) for _, kind in columns)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
        for name, _ in columns
        if name not in keys
    )
    return sql.SQL(
        "INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) AS u({names})"
        " ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    ).format(
        table=table,
        names=_names(columns),
        arrays=arrays,
        keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
        updates=updates,
    )


def execution_stats_projection() -> ExecutionStatsProjection:
    return ExecutionStatsProjection()
