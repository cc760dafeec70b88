"""``/executions``: the read side (starting, signalling and cancelling are in
execution_commands.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from interfaces.api.deps import Caller, Cursor, Db, Limit
from interfaces.api.problems import not_found
from interfaces.api.reads import json_answer
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.executions import ExecutionPublic, ExecutionsPage, ExecutionStatus
from projections.queries import get_execution, list_executions
from projections.queries.pagination import DEFAULT_LIMIT

router = APIRouter(prefix=API_PREFIX, tags=["executions"])

IdFilter = Annotated[str | None, Query(max_length=100)]


@router.get("/executions", name="list_executions")
def list_executions_route(
    caller: Caller,
    db: Db,
    status: ExecutionStatus | None = None,
    definition_id: IdFilter = None,
    contact_id: IdFilter = None,
    include_steps: Annotated[
        bool, Query(description="false leaves each item's step timeline out.")
    ] = True,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ExecutionsPage:
    page = list_executions(
        db,
        caller.org_id,
        status=status,
        definition_id=definition_id,
        contact_id=contact_id,
        include_steps=include_steps,
        limit=limit,
        cursor=cursor,
    )
    return ExecutionsPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/executions/{execution_id}", name="get_execution", response_model=ExecutionPublic)
def get_execution_route(execution_id: str, caller: Caller, db: Db) -> Response:
    row = get_execution(db, caller.org_id, execution_id)
    if row is None:
        raise not_found("execution", execution_id)
    return json_answer(ExecutionPublic, row)
