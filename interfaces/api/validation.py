"""Input no route can serve or store, refused once for every route (docs/api.md, "Status codes").

Postgres keeps no NUL character in text, and a lone surrogate (``\\ud800`` in JSON) is not
Unicode: a filter holding one fails in the database, a command holding one fails in the worker
on every retry. Rather than teach each route and each DTO, the app runs `refuse_unstorable_input`
before every route's own dependencies: it looks at the path parameters, the query parameters and
the JSON body FastAPI already parsed, and answers 422 naming the first bad one. Deep nesting is
refused here too (`domain.values.MAX_JSON_DEPTH`). The words come from `domain.values`, whose
checks refuse the same values again in the aggregates.
"""

from __future__ import annotations

from email.message import Message
from typing import Any

from fastapi import Request

from domain.values import json_problem, text_problem
from interfaces.api.problems import invalid


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI parsed the body as JSON: no Content-Type, or application/json or
    application/*+json (its own rule, in ``fastapi.routing``)."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def refuse_unstorable_input(request: Request) -> None:
    """422 for a NUL or lone surrogate in a path or query parameter or in the JSON body, and for
    a body nested deeper than the API accepts. Runs before the route's other dependencies."""
    for name, value in request.path_params.items():
        reason = text_problem(value) if isinstance(value, str) else None
        if reason is not None:
            raise invalid(name, f"{name} {reason}.", location="path")
    for name, value in request.query_params.multi_items():
        reason = text_problem(name) or text_problem(value)
        if reason is not None:
            raise invalid(name, f"{name} {reason}.", location="query")
    route = request.scope.get("route")
    if getattr(route, "body_field", None) is None or not _is_json(
        request.headers.get("content-type")
    ):
        return
    if not await request.body():
        return
    # FastAPI parsed this body before solving dependencies, and Starlette keeps the result:
    # this is no second parse.
    body: Any = await request.json()
    found = json_problem(body)
    if found is not None:
        field, reason = found
        field = field or "body"
        raise invalid(field, f"{field} {reason}.")
