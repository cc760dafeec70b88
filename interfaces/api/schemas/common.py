"""Pieces shared by every resource's DTOs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class RequestBody(BaseModel):
    """Base of request bodies: an unknown or misspelt field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    """Base of response items: built from read-model rows (dicts)."""

    model_config = ConfigDict(from_attributes=True)


def refuse_null(value: Any) -> Any:
    """For PATCH fields that can be changed but not cleared: an explicit null is an error."""
    if value is None:
        raise PydanticCustomError(
            "null_not_allowed", "This field cannot be null; leave it out to keep its value."
        )
    return value


class CommandAccepted(BaseModel):
    """``202 Accepted``: the command's workflow and the resource it creates or changes."""

    workflow_id: str
    id: str
    # Where the command's fate is read (`GET /api/v1/commands/{workflow_id}`), also `Location`.
    status_url: str
