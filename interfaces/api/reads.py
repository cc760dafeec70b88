"""Answering a read with its JSON serialised once, by the response model, in the route's thread.

A plain ``def`` route that returns a model costs FastAPI a second hop to its thread pool, to
validate the returned value against the response model again, and then a serialisation on the
event loop. The read bench's profile (``python -m bench.api --load``) showed the hops and the
double validation among the largest costs of a read under load. Routes that answer with
`json_answer` validate the rows once, serialise them with pydantic's own JSON encoder (the same
bytes FastAPI wrote) and hand FastAPI a finished `Response`, which it sends as is. They declare
``response_model=`` in their decorator, so the OpenAPI document still describes the answer.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel


def json_answer(model: type[BaseModel], content: Any) -> Response:
    """`content` (a read-model row or a page of them) validated as `model`, as a 200 JSON answer."""
    body = model.model_validate(content).model_dump_json(by_alias=True)
    return Response(body, media_type="application/json")
