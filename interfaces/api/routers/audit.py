"""The auditors' routes: the event store itself, an aggregate's history and past state,
workflow traceability, a contact's lineage, and the integrity check.

Served from the ``events`` table (``projections.audit``), never from read models. Every caller
of the org may read its history (the same people already read the read models built from it);
``/audit/verify`` walks every org's events: platform operators get the whole report, an org's
admins and owners their org's share of it (`projections.audit.org_integrity`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from psycopg import Connection

from interfaces.api.deps import AdminViewer, Caller, Context, Cursor, Db, Limit
from interfaces.api.problems import VALIDATION, ProblemError, not_found
from interfaces.api.responses import API_PREFIX
from interfaces.api.schemas.times import IsoTime
from projections.audit import (
    AGGREGATE_TYPES,
    aggregate_history,
    aggregate_state,
    contact_lineage,
    list_events,
    stream_events,
    verify_chain,
    workflow_events,
    workflow_summary,
)
from projections.audit.org_integrity import org_integrity
from projections.queries.pagination import DEFAULT_LIMIT

router = APIRouter(prefix=API_PREFIX, tags=["audit"])

NDJSON = "application/x-ndjson"
Text = Annotated[str | None, Query(max_length=200)]
Position = Annotated[int | None, Query(ge=0, description="Only events after this position.")]
Since = Annotated[
    IsoTime | None, Query(description="occurred_at >= since (ISO 8601 with a timezone).")
]
Until = Annotated[
    IsoTime | None, Query(description="occurred_at < until (ISO 8601 with a timezone).")
]


def _invalid(error: ValueError, field: str = "query") -> ProblemError:
    return ProblemError(
        422,
        str(error),
        type_=VALIDATION,
        title="Validation failed",
        errors=[{"field": field, "message": str(error), "location": "query"}],
    )


def _check_type(aggregate_type: str) -> None:
    if aggregate_type not in AGGREGATE_TYPES:
        raise not_found("aggregate type", aggregate_type)


@router.get("/events", name="list_events", response_model=None)
def list_events_route(
    request: Request,
    caller: Caller,
    context: Context,
    aggregate_type: Text = None,
    aggregate_id: Text = None,
    event_type: Text = None,
    workflow_id: Text = None,
    run_id: Text = None,
    correlation_id: Text = None,
    actor: Text = None,
    since: Since = None,
    until: Until = None,
    after: Position = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> JSONResponse | StreamingResponse:
    """The org's events, oldest first. `Accept: application/x-ndjson` streams every match."""
    filters: dict[str, Any] = {
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "event_type": event_type,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "correlation_id": correlation_id,
        "actor": actor,
        "since": since,
        "until": until,
        "after": after,
    }
    if NDJSON in request.headers.get("accept", ""):
        return _stream(context.pool, caller.org_id, filters)
    with context.pool.connection() as conn:
        try:
            page = list_events(conn, caller.org_id, limit=limit, cursor=cursor, **filters)
        except ValueError as e:
            raise _invalid(e) from None
    return JSONResponse(
        json.loads(json.dumps({"items": page.items, "next_cursor": page.next_cursor}))
    )


def _stream(pool: Any, org_id: str, filters: dict[str, Any]) -> StreamingResponse:
    """Stream on a connection held for the response's life; bad filters still answer 422."""
    conn: Connection[Any] = pool.getconn()
    try:
        events = stream_events(conn, org_id, **filters)
        first = next(events, None)
    except ValueError as e:
        pool.putconn(conn)
        raise _invalid(e) from None
    except BaseException:
        pool.putconn(conn)
        raise

    def lines() -> Iterator[bytes]:
        try:
            if first is not None:
                yield json.dumps(first).encode() + b"\n"
                for item in events:
                    yield json.dumps(item).encode() + b"\n"
        finally:
            events.close()
            pool.putconn(conn)

    return StreamingResponse(lines(), media_type=NDJSON)


@router.get("/aggregates/{aggregate_type}/{aggregate_id}/history", name="aggregate_history")
def aggregate_history_route(
    aggregate_type: str, aggregate_id: str, caller: Caller, db: Db
) -> JSONResponse:
    _check_type(aggregate_type)
    history = aggregate_history(db, caller.org_id, aggregate_type, aggregate_id)
    if history is None:
        raise not_found(aggregate_type, aggregate_id)
    return JSONResponse({"items": history})


@router.get("/aggregates/{aggregate_type}/{aggregate_id}/state", name="aggregate_state")
def aggregate_state_route(
    aggregate_type: str,
    aggregate_id: str,
    caller: Caller,
    db: Db,
    as_of: Annotated[IsoTime | None, Query(description="ISO time with a timezone.")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> JSONResponse:
    """The aggregate rebuilt from its events as of a time or a version (else now)."""
    _check_type(aggregate_type)
    try:
        state = aggregate_state(
            db, caller.org_id, aggregate_type, aggregate_id, as_of=as_of, version=version
        )
    except ValueError as e:
        raise _invalid(e) from None
    if state is None:
        raise not_found(aggregate_type, aggregate_id)
    return JSONResponse(state)


@router.get("/workflows/{workflow_id}/events", name="workflow_events")
def workflow_events_route(workflow_id: str, caller: Caller, db: Db) -> JSONResponse:
    items = workflow_events(db, caller.org_id, workflow_id)
    if not items:
        raise not_found("workflow", workflow_id)
    return JSONResponse({"items": items})


@router.get("/workflows/{workflow_id}/summary", name="workflow_summary")
def workflow_summary_route(workflow_id: str, caller: Caller, db: Db) -> JSONResponse:
    summary = workflow_summary(db, caller.org_id, workflow_id)
    if summary is None:
        raise not_found("workflow", workflow_id)
    return JSONResponse(summary)


@router.get("/contacts/{contact_id}/lineage", name="contact_lineage")
def contact_lineage_route(contact_id: str, caller: Caller, db: Db) -> JSONResponse:
    """The contact's events, its executions, their tasks, and every event involved."""
    lineage = contact_lineage(db, caller.org_id, contact_id)
    if lineage is None:
        raise not_found("contact", contact_id)
    return JSONResponse(lineage)


@router.get("/audit/verify", name="verify_store")
def verify_store_route(caller: AdminViewer, db: Db) -> JSONResponse:
    """Recompute the hash chain over the whole store; name the first broken position."""
    report = verify_chain(db)
    if not caller.operator:
        return JSONResponse(org_integrity(db, report, caller.org_id))
    body = {
        "scope": "store",
        "ok": report.ok,
        "checked": report.checked,
        "head": report.head,
        "first_broken_position": report.first_broken_position,
        "reason": report.reason,
        "head_hash": report.head_hash,
        "unsealed": report.unsealed,
        "seal_lag_seconds": report.seal_lag_seconds,
    }
    return JSONResponse(body, status_code=200)
