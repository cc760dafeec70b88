"""The OpenAPI document, made to describe the answers the API really gives.

FastAPI declares every 422 as its own ``HTTPValidationError`` in ``application/json`` and knows
nothing of the answers our dependencies and middleware give (401, 403, 404, 413, 429, 503).
`describe_errors` rewrites the generated document once, from the routes themselves:

* every error answer is ``application/problem+json`` with the `PROBLEM` schema (RFC 9457, with
  the ``errors`` list of docs/contract.md);
* 422 on every operation (any parameter or body can be refused, a NUL in any of them too);
* 401 and 429 where a bearer token is checked (the per-org rate limit is taken with it), 403
  where a role guard stands (a dependency that takes the verified caller), 404 where the path
  names something, 413 where a body is read, 503 wherever Postgres or Temporal is needed.

A client generated from the document therefore parses every error it can receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from interfaces.api.deps import current_principal
from interfaces.api.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each bad field of a 422.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<slug>` or `about:blank`."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ProblemFieldError"},
        },
    },
    "additionalProperties": True,
}
PROBLEM_FIELD_ERROR: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path: `fields.tags[0]`, `limit`."},
        "message": {"type": "string"},
        "location": {"type": "string", "description": "`body`, `query`, `path` or `header`."},
        "step_id": {"type": ["string", "null"], "description": "Definitions: the step."},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "Missing, invalid or expired credentials.",
    403: "The caller's role may not do this.",
    404: "Nothing with this id in the caller's org (or no such thing).",
    409: "The resource's state does not allow this.",
    413: "The body is larger than 1 MiB.",
    415: "The body's media type is not accepted.",
    422: "A parameter or the body is invalid; `errors` names each field.",
    429: "Too many requests: retry after `Retry-After` seconds.",
    503: "Postgres or Temporal is unreachable: retry after `Retry-After` seconds.",
    504: "`wait=true`: the change was not visible in time.",
}
# Operations that need neither Postgres nor Temporal.
_NO_BACKEND = frozenset({"/healthz"})


def describe_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The function to install as ``app.openapi``: generates once, then serves the copy."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = rewrite(schema, app)
        return app.openapi_schema

    return openapi


def rewrite(schema: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM
    components["ProblemFieldError"] = PROBLEM_FIELD_ERROR
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _describe(operation, route)
    text = repr(schema["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)
    return schema


def _describe(operation: dict[str, Any], route: RouteContext) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    path = route.path_format or ""
    statuses = {422}
    if "security" in operation:
        statuses |= {401, 429}
    if _has_role_guard(route.dependant):
        statuses.add(403)
    if route.param_convertors:
        statuses.add(404)
    if "requestBody" in operation or path.startswith("/webhooks/"):
        statuses.add(413)
    if path.startswith("/webhooks/"):
        # Signed instead of a token; rate-limited per definition (interfaces/api/ratelimit.py).
        statuses |= {401, 404, 409, 415, 429}
    if path not in _NO_BACKEND:
        statuses.add(503)
    for status in statuses:
        responses.setdefault(str(status), {})
    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400:
            response.setdefault("description", DESCRIPTIONS.get(int(code), "An error."))
            if response["description"] in ("", "Validation Error"):
                response["description"] = DESCRIPTIONS.get(int(code), "An error.")
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def _has_role_guard(dependant: Dependant) -> bool:
    """A dependency (not the route itself) that takes the verified caller is a role guard:
    ``require_worker(principal: Caller)`` and the like, which answer 403."""
    for sub in _walk(dependant):
        if any(inner.call is current_principal for inner in sub.dependencies):
            return True
    return False


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)
