"""Moving running executions to another version of their definition
(``POST /api/v1/definitions/{id}/migrations``, docs/engine.md "Moving executions").

The plan reads the read models: which executions of the definition are open, where each one
waits, and the two versions' steps; `domain.definition_model.migration_target` says, for each,
where it would go on or why it cannot move. A real move asks each movable execution's workflow
through the `migrate` update, which checks the same rules against the workflow's own state (the
read model may lag) and answers moved or not, with why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from domain.definition_model import Definition, migration_target
from projections.queries import get_definition, get_execution, list_executions
from worker.contracts import (
    MIGRATE_UPDATE,
    CommandMeta,
    MigrationAnswer,
    MigrationRequest,
    execution_workflow_id,
)
from worker.starts import definition_body

# Statuses of executions that have not ended: the ones a migration looks at.
OPEN_STATUSES = ("pending", "running", "waiting", "needs_attention", "compensating")
# How long a real move waits for one execution's workflow to answer.
UPDATE_TIMEOUT = 10.0
# How many executions are asked at once.
CONCURRENT_UPDATES = 8


@dataclass
class Planned:
    execution_id: str
    status: str | None
    definition_version: int | None
    current_step_id: str | None
    to_step: str | None = None
    reason: str | None = None
    moved: bool = False

    def item(self, dry_run: bool) -> dict[str, Any]:
        if self.reason is not None:
            outcome = "not_moved"
        else:
            outcome = "would_move" if dry_run else ("moved" if self.moved else "not_moved")
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "definition_version": self.definition_version,
            "current_step_id": self.current_step_id,
            "outcome": outcome,
            "to_step": self.to_step,
            "reason": self.reason,
        }


def open_executions(
    conn: Connection[Any], org_id: str, definition_id: str, most: int
) -> tuple[list[dict[str, Any]], bool]:
    """The definition's executions that have not ended (at most `most`), and whether there
    were more."""
    found: list[dict[str, Any]] = []
    for status in OPEN_STATUSES:
        cursor: str | None = None
        while True:
            page = list_executions(
                conn, org_id, status=status, definition_id=definition_id, limit=200, cursor=cursor
            )
            found.extend(page.items)
            if len(found) > most:
                return found[:most], True
            cursor = page.next_cursor
            if cursor is None:
                break
    return found, False


def plan(
    conn: Connection[Any],
    org_id: str,
    definition_id: str,
    target: Definition,
    target_version: int,
    mapping: Mapping[str, str],
    rows: Sequence[dict[str, Any] | str],
) -> list[Planned]:
    """For each execution (its read-model row, or an asked id without one): where it would go
    on in `target`, or why it cannot move."""
    versions: dict[int, Definition | None] = {}

    def version(number: int) -> Definition | None:
        if number not in versions:
            row = get_definition(conn, org_id, definition_id, number)
            versions[number] = None if row is None else Definition.from_dict(definition_body(row))
        return versions[number]

    planned: list[Planned] = []
    for row in rows:
        if isinstance(row, str):
            planned.append(Planned(row, None, None, None, reason="no such execution in this org."))
            continue
        entry = Planned(
            str(row["id"]), row["status"], row["definition_version"], row["current_step_id"]
        )
        planned.append(entry)
        entry.reason = _why_not(row, definition_id, target_version)
        if entry.reason is not None:
            continue
        source = version(int(row["definition_version"]))
        if source is None:
            entry.reason = f"its version {row['definition_version']} is not found."
            continue
        undoable = [
            step["step_id"]
            for step in row.get("steps") or []
            if step.get("status") == "completed"
            and step.get("compensation_of") is None
            and _declares_undo(source, step["step_id"])
        ]
        entry.to_step, entry.reason = migration_target(
            source,
            target,
            str(row["current_step_id"]),
            mapping,
            target_version=target_version,
            undoable=undoable,
        )
    return planned


def _why_not(row: dict[str, Any], definition_id: str, target_version: int) -> str | None:
    status, version = row["status"], row["definition_version"]
    if str(row["definition_id"]) != definition_id:
        return "it is not an execution of this definition."
    if status not in OPEN_STATUSES:
        return f"it has ended ({status}); only a running execution moves."
    if version == target_version:
        return f"it already runs version {target_version}."
    if version is not None and version > target_version:
        return f"version {target_version} is not newer than the version it runs ({version})."
    if status != "waiting":
        at = f" in step {row['current_step_id']!r}" if row["current_step_id"] else ""
        return (
            f"not at a safe point: it is {status}{at}, not waiting on a task, a signal or a delay."
        )
    if row["current_step_id"] is None:
        return "not at a safe point: it waits in no step."
    return None


def _declares_undo(definition: Definition, step_id: str) -> bool:
    try:
        return bool(definition.find(step_id).compensate)
    except KeyError:
        return False


def asked_rows(
    conn: Connection[Any], org_id: str, execution_ids: Sequence[str]
) -> list[dict[str, Any] | str]:
    """The rows of the executions asked for, by id (the id alone when it has none)."""
    rows: list[dict[str, Any] | str] = []
    for execution_id in dict.fromkeys(execution_ids):
        row = get_execution(conn, org_id, execution_id)
        rows.append(execution_id if row is None else row)
    return rows


async def move(
    client: Client,
    planned: Sequence[Planned],
    request: Callable[[], MigrationRequest],
) -> None:
    """Ask each movable execution's workflow to move (`migrate` update), a few at a time, and
    keep its answer on its entry."""
    gate = asyncio.Semaphore(CONCURRENT_UPDATES)

    async def one(entry: Planned) -> None:
        async with gate:
            handle = client.get_workflow_handle(execution_workflow_id(entry.execution_id))
            try:
                answer: MigrationAnswer = await asyncio.wait_for(
                    handle.execute_update(MIGRATE_UPDATE, request(), result_type=MigrationAnswer),
                    UPDATE_TIMEOUT,
                )
            except TimeoutError:
                entry.reason = (
                    f"its workflow did not answer within {UPDATE_TIMEOUT:g} s (is a worker "
                    "running?); read the execution to see whether it moved."
                )
                return
            except WorkflowUpdateFailedError as error:
                entry.reason = f"its workflow refused the move: {error.cause or error}."
                return
            except RPCError as error:
                # One execution's trouble must not hide what became of the others.
                if error.status == RPCStatusCode.NOT_FOUND:
                    entry.reason = "its workflow is not running any more."
                else:
                    entry.reason = (
                        f"Temporal did not take the move ({error.status.name}: {error.message}); "
                        "read the execution to see whether it moved."
                    )
                return
            entry.moved = answer.moved
            entry.reason = answer.reason
            if answer.moved:
                entry.to_step = answer.to_step

    await asyncio.gather(*(one(entry) for entry in planned if entry.reason is None))


def migration_request(
    meta: CommandMeta, target_version: int, body: Mapping[str, Any], mapping: Mapping[str, str]
) -> Callable[[], MigrationRequest]:
    return lambda: MigrationRequest(
        meta=meta,
        definition_version=target_version,
        definition=dict(body),
        step_mapping=dict(mapping),
    )
