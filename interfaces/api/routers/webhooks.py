"""``POST /webhooks/{definition_id}``: form submissions and other external events start an
execution of an active definition whose trigger is ``form_submission`` or ``webhook``.

No bearer token: the sender proves itself with the definition's signing secret. A repeated
delivery (same ``X-Byte-Delivery``, or the same body without one) maps to the same execution id
and so to the same workflow id, which Temporal refuses to start twice; the executions read model
is checked first so that a duplicate arriving after Temporal forgot the workflow is caught too.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from domain.values import json_problem
from interfaces.api.commands import Outcome, ReadBack, Wait
from interfaces.api.deps import Commands, Context
from interfaces.api.problems import UNAUTHENTICATED, ProblemError, conflict, invalid, not_found
from interfaces.api.responses import path_of, respond
from interfaces.api.schemas.executions import ExecutionPublic
from interfaces.api.webhook_signing import WEBHOOK_TRIGGERS, SignatureError, derive_secret, verify
from projections.queries import get_execution
from projections.queries.definitions import get_webhook_target
from worker.contracts import CommandMeta, execution_workflow_id
from worker.starts import Origin, execution_input

router = APIRouter(tags=["webhooks"])


def trigger_type(row: dict[str, Any]) -> str | None:
    trigger = row.get("trigger") or {}
    value = trigger.get("type") if isinstance(trigger, dict) else None
    return str(value) if value is not None else None


def parse_payload(content_type: str, body: bytes) -> dict[str, Any]:
    """JSON objects and HTML form posts (``application/x-www-form-urlencoded``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise invalid("body", "the form body is not UTF-8") from None
        return storable({k: v[0] if len(v) == 1 else v for k, v in fields.items()})
    if media not in ("application/json", "") and not media.endswith("+json"):
        raise ProblemError(
            415,
            f"Content-Type {media!r} is not accepted: send JSON or a url-encoded form.",
            title="Unsupported media type",
        )
    try:
        payload = json.loads(body) if body else {}
    except UnicodeDecodeError:
        raise invalid("body", "the body is not UTF-8 text") from None
    except RecursionError:
        raise invalid("body", "the body is nested too deeply") from None
    except ValueError:
        raise invalid("body", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid("body", "the body must be a JSON object")
    return storable(payload)


def storable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload, unless a value could never be stored (a NUL, a lone surrogate, deep
    nesting): refused here rather than by an execution that could never record it."""
    found = json_problem(payload)
    if found is not None:
        field, reason = found
        raise invalid(field or "body", f"{field or 'the body'} {reason}")
    return payload


@router.post(
    "/webhooks/{definition_id}",
    name="receive_webhook",
    status_code=202,
    response_model=None,
    responses={
        200: {"description": "A repeated delivery: the first delivery's ids."},
        202: {"description": "An execution was started."},
        401: {"description": "Missing, malformed, stale or wrong signature."},
        404: {"description": "No definition with a webhook trigger has this id."},
        409: {"description": "The definition is not active."},
        429: {"description": "The definition's webhook limit is reached; see Retry-After."},
    },
)
async def receive_webhook(
    definition_id: str, request: Request, context: Context, commands: Commands
) -> JSONResponse:
    row = await run_in_threadpool(commands.read, lambda c: get_webhook_target(c, definition_id))
    if row is None or trigger_type(row) not in WEBHOOK_TRIGGERS:
        raise not_found("webhook definition", definition_id)
    body = await request.body()
    secret = derive_secret(
        context.settings.webhook_key(), str(row["id"]), int(row["webhook_secret_generation"])
    )
    try:
        verify(secret, request.headers.get("x-byte-signature"), body, time.time())
    except SignatureError as e:
        raise ProblemError(
            401, str(e), type_=UNAUTHENTICATED, title="Bad webhook signature"
        ) from None
    # Counted once signed, so that no one without the secret can use up a sender's limit.
    await context.limiter.check_webhook(str(row["id"]))
    if not row["is_active"]:
        raise conflict(f"definition {row['id']} is not active.")
    payload = parse_payload(request.headers.get("content-type", ""), body)

    delivery = request.headers.get("x-byte-delivery") or hashlib.sha256(body).hexdigest()
    origin = Origin("webhook", scope=str(row["id"]), key=delivery)
    org_id, execution_id = str(row["org_id"]), origin.execution_id()
    read_back = ReadBack(
        projection="executions",
        read=lambda c: get_execution(c, org_id, execution_id),
        public=ExecutionPublic,
        location=path_of(request, "get_execution", execution_id=execution_id),
    )
    # Temporal forgets a closed workflow's id after its retention; the read model does not.
    if await run_in_threadpool(commands.read, read_back.read) is not None:
        workflow_id = execution_workflow_id(execution_id)
        return respond(Outcome(workflow_id, execution_id, read_back.location, duplicate=True))
    execution = execution_input(
        meta=CommandMeta(
            org_id=org_id,
            actor=f"webhook:{row['id']}",
            source="webhook",
            correlation_id=getattr(request.state, "correlation_id", None),
            request_id=getattr(request.state, "request_id", None),
        ),
        execution_id=execution_id,
        definition_id=str(row["id"]),
        definition_version=int(row["definition_version"]),
        definition=row,
        trigger={"type": trigger_type(row), "delivery": delivery},
        payload=payload,
    )
    outcome = await commands.start(execution, origin, wait=Wait(enabled=False), read_back=read_back)
    return respond(outcome)
