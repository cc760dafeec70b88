"""``/contacts``: list, read, create, update (PATCH), archive, erase, export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from interfaces.api.auth import Principal
from interfaces.api.commands import (
    CommandGateway,
    ReadBack,
    Wait,
    change_target,
    command_meta,
    creation_target,
)
from interfaces.api.context import ApiContext
from interfaces.api.deps import (
    Caller,
    Commands,
    ContactEraser,
    Context,
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
from interfaces.api.schemas.contact_archive import ContactArchive
from interfaces.api.schemas.contact_erase import ContactErase
from interfaces.api.schemas.contact_export import ContactExport
from interfaces.api.schemas.contacts import (
    ContactCreate,
    ContactPublic,
    ContactsPage,
    ContactUpdate,
)
from projections.audit.export import contact_export
from projections.queries import get_contact
from projections.queries.contacts import contact_row, contacts_page
from projections.queries.pagination import DEFAULT_LIMIT, as_uuid
from worker.commands import (
    ArchiveContact,
    CreateContact,
    EraseContact,
    ExportContact,
    contact_patch,
)
from worker.contracts import CONTACT_COMMAND_WORKFLOW, CommandMeta

router = APIRouter(prefix=API_PREFIX, tags=["contacts"])


@router.get("/contacts", name="list_contacts", response_model=ContactsPage)
async def list_contacts_route(
    caller: Caller,
    reads: Reads,
    status: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Search in names and email.")
    ] = None,
    archived: Annotated[bool | None, Query(description="Only archived (or live) ones.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    query = contacts_page(
        caller.org_id, status=status, q=q, archived=archived, limit=limit, cursor=cursor
    )
    return page_answer(ContactsPage, await reads.page(query))


@router.get("/contacts/{contact_id}", name="get_contact", response_model=ContactPublic)
async def get_contact_route(contact_id: str, caller: Caller, reads: Reads) -> Response:
    row = await reads.row(contact_row(caller.org_id, contact_id))
    if row is None:
        raise not_found("contact", contact_id)
    return json_answer(ContactPublic, row)


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
    changes = body.model_dump(exclude_unset=True)
    return await _change(
        "update",
        contact_id,
        lambda meta, key: contact_patch(meta, key, changes),
        caller,
        request,
        commands,
        wait,
        idempotency_key,
    )


@router.post(
    "/contacts/{contact_id}/archive",
    name="archive_contact",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 200: {"model": ContactPublic}},
)
async def archive_contact_route(
    contact_id: str,
    body: ContactArchive,
    caller: WorkActor,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Archive a contact: the domain's delete (the contact and its history stay, it refuses
    further changes) and what fires `record_deleted` triggers. An archived contact is a 409:
    archiving it again would record a second reason for a change that already happened."""
    return await _change(
        "archive",
        contact_id,
        lambda meta, key: ArchiveContact(meta=meta, contact_id=key, reason=body.reason),
        caller,
        request,
        commands,
        wait,
        idempotency_key,
    )


@router.post(
    "/contacts/{contact_id}/erase",
    name="erase_contact",
    status_code=202,
    response_model=None,
    responses={**COMMAND_RESPONSES, 200: {"model": ContactPublic}},
)
async def erase_contact_route(
    contact_id: str,
    body: ContactErase,
    caller: ContactEraser,
    request: Request,
    commands: Commands,
    wait: WaitOption,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Erase a person's data (GDPR Art. 17, crypto-shredding): the contact's key is destroyed
    and `Contact.Erased` records who, when and why. From then on every read of the contact, its
    tasks and executions, the history, past states, exports and lineage show its personal
    fields as `"[erased]"`; ids, types, times and statuses stay. Owners and admins only; the
    reason is required. An erased contact is a 409: erasure happens once and is final."""
    return await _change(
        "erase",
        contact_id,
        lambda meta, key: EraseContact(meta=meta, contact_id=key, reason=body.reason),
        caller,
        request,
        commands,
        wait,
        idempotency_key,
    )


async def _change(
    action: str,
    contact_id: str,
    command: Callable[[CommandMeta, str], BaseModel],
    caller: Principal,
    request: Request,
    commands: CommandGateway,
    wait: Wait,
    idempotency_key: str | None,
) -> JSONResponse:
    """Run one command on an existing contact (`command` builds it from the caller's command
    meta and the contact id) through the contact command workflow, answering as every command
    route does; an id that is no UUID is a 404, like an unknown contact."""
    key = as_uuid(contact_id)
    if key is None:
        raise not_found("contact", contact_id)
    contact_id = str(key)
    outcome = await commands.run(
        workflow=CONTACT_COMMAND_WORKFLOW,
        command=command(command_meta(request, caller), contact_id),
        target=change_target("contact", action, caller, contact_id, idempotency_key),
        wait=wait,
        read_back=_read_back(request, caller.org_id, contact_id),
    )
    return respond(outcome)


@router.get(
    "/contacts/{contact_id}/export",
    name="export_contact",
    response_model=ContactExport,
    responses={
        200: {
            "description": "The export document, as an attachment "
            '(`Content-Disposition: attachment; filename="contact-<id>.json"`).'
        },
        403: {"description": "Viewers cannot export a contact."},
        404: {"description": "No such contact in the caller's org."},
    },
)
async def export_contact_route(
    contact_id: str, caller: WorkActor, request: Request, commands: Commands, context: Context
) -> Response:
    """Everything held about one person (GDPR Art. 20): the contact, its tasks, its
    executions with their step timelines, emails and HTTP calls, and the events of all of them
    (at most `projections.audit.export.EVENT_LIMIT`; `truncated` says when more exist).

    Members, admins and owners may export (they act on contacts); viewers may not: an export
    takes a person's data out of the system in bulk. Each export is recorded as a
    ``Contact.Exported`` event (who, which format) by the contact's command workflow, waited
    for (within the command accept window) before the document is sent: a command that cannot
    start or is refused sends nothing. An archived contact can be exported too."""
    key = as_uuid(contact_id)
    document = (
        None if key is None else await run_in_threadpool(_export, context, caller.org_id, key)
    )
    if key is None or document is None:
        raise not_found("contact", contact_id)
    contact_id = str(key)
    target = change_target("contact", "export", caller, contact_id, None)
    await commands.run(
        workflow=CONTACT_COMMAND_WORKFLOW,
        command=ExportContact(meta=command_meta(request, caller), contact_id=contact_id),
        target=target,
        wait=Wait(enabled=False),
        read_back=None,
    )
    body = ContactExport.model_validate(document).model_dump_json(by_alias=True)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


def _export(context: ApiContext, org_id: str, contact_id: UUID) -> dict[str, Any] | None:
    """Built on a connection of its own, returned before the access is recorded: the pool is
    not held across the round trip to Temporal."""
    with context.pool.connection() as conn:
        return contact_export(conn, org_id, contact_id)


def _read_back(request: Request, org_id: str, contact_id: str) -> ReadBack:
    return ReadBack(
        projection="contacts",
        read=lambda conn: get_contact(conn, org_id, contact_id),
        public=ContactPublic,
        location=path_of(request, "get_contact", contact_id=contact_id),
    )
