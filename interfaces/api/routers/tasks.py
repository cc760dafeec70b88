"""``/tasks`` and ``/me/tasks``: list, read, create (assign), update (PATCH)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from interfaces.api.commands import ReadBack, change_target, command_meta, creation_target
from interfaces.api.deps import (
    Caller,
    Commands,
    Cursor,
    IdempotencyKey,
    Limit,
    Reads,
    WaitOption,
    WorkActor,
)
from interfaces.api.problems import not_found
from interfaces.api.reads import json_answer, page_answer
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.schemas.tasks import (
    TaskCreate,
    TaskPublic,
    TasksPage,
    TaskStatus,
    TaskUpdate,
)
from projections.queries import get_task
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from projections.queries.tasks import my_tasks_page, task_row, tasks_page
from worker.commands import AssignTask, task_patch
from worker.contracts import TASK_COMMAND_WORKFLOW

router = APIRouter(prefix=API_PREFIX, tags=["tasks"])

Assignee = Annotated[str | None, Query(max_length=200, description="`user:<id>` or `role:<name>`.")]
IdFilter = Annotated[str | None, Query(max_length=100)]


@router.get("/tasks", name="list_tasks", response_model=TasksPage)
async def list_tasks_route(
    caller: Caller,
    reads: Reads,
    status: TaskStatus | None = None,
    assigned_to: Assignee = None,
    execution_id: IdFilter = None,
    contact_id: IdFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    query = tasks_page(
        caller.org_id,
        status=status,
        assigned_to=assigned_to,
        execution_id=execution_id,
        contact_id=contact_id,
        limit=limit,
        cursor=cursor,
    )
    return page_answer(TasksPage, await reads.page(query))


@router.get("/me/tasks", name="list_my_tasks", response_model=TasksPage)
async def list_my_tasks_route(
    caller: Caller,
    reads: Reads,
    status: TaskStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Tasks assigned to ``user:<sub>`` or to the caller's role (``role:<org_role>``)."""
    query = my_tasks_page(
        caller.org_id,
        caller.user_id,
        [caller.role],
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return page_answer(TasksPage, await reads.page(query))


@router.get("/tasks/{task_id}", name="get_task", response_model=TaskPublic)
async def get_task_route(task_id: str, caller: Caller, reads: Reads) -> Response:
    row = await reads.row(task_row(caller.org_id, task_id))
    if row is None:
        raise not_found("task", task_id)
    return json_answer(TaskPublic, row)


@router.post(
    "/tasks",
    name="create_task",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 201: {"model": TaskPublic}},
)
async def create_task_route(
    body: TaskCreate,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    target = creation_target("task", caller, idempotency_key)
    command = AssignTask(
        meta=command_meta(request, caller), task_id=target.resource_id, **body.model_dump()
    )
    outcome = await commands.run(
        workflow=TASK_COMMAND_WORKFLOW,
        command=command,
        target=target,
        wait=wait,
        read_back=_read_back(request, caller.org_id, target.resource_id),
        created=True,
    )
    return respond(outcome)


@router.patch(
    "/tasks/{task_id}",
    name="update_task",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 200: {"model": TaskPublic}},
)
async def update_task_route(
    task_id: str,
    body: TaskUpdate,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    key = as_uuid(task_id)
    if key is None:
        raise not_found("task", task_id)
    task_id = str(key)
    target = change_target("task", "update", caller, task_id, idempotency_key)
    # The narrowest intent (CompleteTask, ReassignTask, ...); on a task an execution created,
    # a status change also signals that execution (`task_status_changed`).
    command = task_patch(
        command_meta(request, caller), task_id, body.model_dump(exclude_unset=True)
    )
    outcome = await commands.run(
        workflow=TASK_COMMAND_WORKFLOW,
        command=command,
        target=target,
        wait=wait,
        read_back=_read_back(request, caller.org_id, task_id),
    )
    return respond(outcome)


def _read_back(request: Request, org_id: str, task_id: str) -> ReadBack:
    return ReadBack(
        projection="tasks",
        read=lambda conn: get_task(conn, org_id, task_id),
        public=TaskPublic,
        location=path_of(request, "get_task", task_id=task_id),
    )
