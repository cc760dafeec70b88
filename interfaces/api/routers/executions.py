"""``/executions``: the read side (starting, signalling and cancelling are in
execution_commands.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from interfaces.api.deps import Caller, Cursor, Limit, Reads
from interfaces.api.problems import not_found
from interfaces.api.reads import json_answer, page_answer
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.executions import ExecutionPublic, ExecutionsPage, ExecutionStatus
from projections.queries.executions import execution_row, executions_page
from projections.queries.pagination import DEFAULT_LIMIT

router = APIRouter(prefix=API_PREFIX, tags=["executions"])

IdFilter = Annotated[str | None, Query(max_length=100)]


@router.get("/executions", name="list_executions", response_model=ExecutionsPage)
async def list_executions_route(
    caller: Caller,
    reads: Reads,
    status: ExecutionStatus | None = None,
    definition_id: IdFilter = None,
    contact_id: IdFilter = None,
    include_steps: Annotated[
        bool, Query(description="false leaves each item's step timeline out.")
    ] = True,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    query = executions_page(
        caller.org_id,
        status=status,
        definition_id=definition_id,
        contact_id=contact_id,
        include_steps=include_steps,
        limit=limit,
        cursor=cursor,
    )
    return page_answer(ExecutionsPage, await reads.page(query))


@router.get("/executions/{execution_id}", name="get_execution", response_model=ExecutionPublic)
async def get_execution_route(execution_id: str, caller: Caller, reads: Reads) -> Response:
    row = await reads.row(execution_row(caller.org_id, execution_id))
    if row is None:
        raise not_found("execution", execution_id)
    return json_answer(ExecutionPublic, row)
