"""``/contacts``: list, read, create, update (PATCH)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from interfaces.api.commands import ReadBack, change_target, command_meta, creation_target
from interfaces.api.deps import (
    Caller,
    Commands,
    Cursor,
    Db,
    IdempotencyKey,
    Limit,
    WaitOption,
    WorkActor,
)
from interfaces.api.problems import not_found
from interfaces.api.reads import json_answer
from interfaces.api.responses import API_PREFIX, COMMAND_RESPONSES, path_of, respond
from interfaces.api.schemas.contacts import (
    ContactCreate,
    ContactPublic,
    ContactsPage,
    ContactUpdate,
)
from projections.queries import get_contact, list_contacts
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from worker.commands import CreateContact, contact_patch
from worker.contracts import CONTACT_COMMAND_WORKFLOW

router = APIRouter(prefix=API_PREFIX, tags=["contacts"])


@router.get("/contacts", name="list_contacts", response_model=ContactsPage)
def list_contacts_route(
    caller: Caller,
    db: Db,
    status: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Search in names and email.")
    ] = None,
    archived: Annotated[bool | None, Query(description="Only archived (or live) ones.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    page = list_contacts(
        db, caller.org_id, status=status, q=q, archived=archived, limit=limit, cursor=cursor
    )
    return json_answer(ContactsPage, {"items": page.items, "next_cursor": page.next_cursor})


@router.get("/contacts/{contact_id}", name="get_contact")
def get_contact_route(contact_id: str, caller: Caller, db: Db) -> ContactPublic:
    row = get_contact(db, caller.org_id, contact_id)
    if row is None:
        raise not_found("contact", contact_id)
    return ContactPublic.model_validate(row)


@router.post(
    "/contacts",
    name="create_contact",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 201: {"model": ContactPublic}},
)
async def create_contact_route(
    body: ContactCreate,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    target = creation_target("contact", caller, idempotency_key)
    command = CreateContact(
        meta=command_meta(request, caller), contact_id=target.resource_id, **body.model_dump()
    )
    outcome = await commands.run(
        workflow=CONTACT_COMMAND_WORKFLOW,
        command=command,
        target=target,
        wait=wait,
        read_back=_read_back(request, caller.org_id, target.resource_id),
        created=True,
    )
    return respond(outcome)


@router.patch(
    "/contacts/{contact_id}",
    name="update_contact",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 200: {"model": ContactPublic}},
)
async def update_contact_route(
    contact_id: str,
    body: ContactUpdate,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    key = as_uuid(contact_id)
    if key is None:
        raise not_found("contact", contact_id)
    contact_id = str(key)
    target = change_target("contact", "update", caller, contact_id, idempotency_key)
    changes = body.model_dump(exclude_unset=True)
    command = contact_patch(command_meta(request, caller), contact_id, changes)
    outcome = await commands.run(
        workflow=CONTACT_COMMAND_WORKFLOW,
        command=command,
        target=target,
        wait=wait,
        read_back=_read_back(request, caller.org_id, contact_id),
    )
    return respond(outcome)


def _read_back(request: Request, org_id: str, contact_id: str) -> ReadBack:
    return ReadBack(
        projection="contacts",
        read=lambda conn: get_contact(conn, org_id, contact_id),
        public=ContactPublic,
        location=path_of(request, "get_contact", contact_id=contact_id),
    )
