"""How the read routes of contacts, tasks and executions run: their query on the event loop,
their JSON serialised once, by the response model.

These are the reads dashboards poll (`GET /contacts`, `GET /tasks?execution_id=`,
`GET /executions/{id}` and their siblings), so their per-request cost is the API's capacity.
The read bench's profile (``python -m bench.api --load``) showed where it went:

* A plain ``def`` route runs on FastAPI's thread pool: a hop there and back per request, a
  blocking pool's locks and condition variables to take and return a connection, and an idle
  thread to wake (together about a quarter of the API's CPU per read). `ReadModels` runs the
  query on an async connection from the app's `reads` pool instead, inside the route's own
  task; nothing blocks the event loop while Postgres answers.
* A route that returns a model has it validated against the response model again, then
  serialised on the event loop. Routes that answer with `json_answer` validate the rows once,
  serialise them with pydantic's own JSON encoder (the same bytes FastAPI wrote) and hand
  FastAPI a finished `Response`, which it sends as is. They declare ``response_model=`` in
  their decorator, so the OpenAPI document still describes the answer.
* `ReadModels` is a plain async dependency, not a ``yield`` one: FastAPI enters and leaves an
  exit stack for each generator dependency, which the profile showed too; the connection is
  taken and returned inside `page` and `row` instead.

The same queries run on blocking connections elsewhere (the command read-back, the CLI, the
tests): `projections.queries` builds each read once, as a `PageQuery` or `RowQuery` that runs
either way.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from projections.queries.pagination import Page, PageQuery, RowQuery


class ReadModels:
    """The read models, queried on the app's async pool, one connection per query."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def page(self, query: PageQuery) -> Page:
        async with self._pool.connection() as conn:
            return await query.afetch(conn)

    async def row(self, query: RowQuery) -> dict[str, Any] | None:
        if query.params is None:  # a malformed id: nothing to ask the database
            return None
        async with self._pool.connection() as conn:
            return await query.afetch(conn)


def json_answer(model: type[BaseModel], content: Any) -> Response:
    """`content` (a read-model row or a page of them) validated as `model`, as a 200 JSON answer."""
    body = model.model_validate(content).model_dump_json(by_alias=True)
    return Response(body, media_type="application/json")


def page_answer(model: type[BaseModel], page: Page) -> Response:
    """A page of rows as `model` (``{"items", "next_cursor"}``), as a 200 JSON answer."""
    return json_answer(model, {"items": page.items, "next_cursor": page.next_cursor})
