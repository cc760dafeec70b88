"""Body of ``POST /contacts/{id}/erase``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from interfaces.api.schemas.common import RequestBody

MAX_ERASE_REASON_CHARS = 1_000


class ContactErase(RequestBody):
    """Why the person's data is erased: required, because the reason (with who and when) is
    what the history keeps of them; it is stored in clear, so it must not repeat their data."""

    reason: str = Field(min_length=1, max_length=MAX_ERASE_REASON_CHARS)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "The reason cannot be blank.")
        return value
