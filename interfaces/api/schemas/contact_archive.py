"""Body of ``POST /contacts/{id}/archive``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from interfaces.api.schemas.common import RequestBody

# The bound an `archive_contact` step's reason has (domain/steps/archive_contact.py), so a
# contact archived over HTTP and one archived by a step carry reasons of the same size.
MAX_ARCHIVE_REASON_CHARS = 1_000


class ContactArchive(RequestBody):
    """Why the contact is archived: required, because archiving is the domain's delete and the
    reason is all the history will say about it (and what `record_deleted` triggers receive)."""

    reason: str = Field(min_length=1, max_length=MAX_ARCHIVE_REASON_CHARS)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # The domain stores a blank reason as none at all; a required reason must say something.
        if not value.strip():
            raise PydanticCustomError("blank", "The reason cannot be blank.")
        return value
