"""Bodies and answers of ``/secrets``: a value goes in, only names and who set them come out."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from interfaces.api.schemas.common import PublicModel, RequestBody

# The bound the secret service keeps in bytes (application/services/secrets.py); in characters
# here, so that a body far too long is refused before anything is sealed.
MAX_SECRET_VALUE_CHARS = 8192


class SecretValue(RequestBody):
    """The value to store under the name: write-only, never returned by any route."""

    value: str = Field(min_length=1, max_length=MAX_SECRET_VALUE_CHARS)


class SecretPublic(PublicModel):
    """A secret as the API shows it: its name, who set its current value and when."""

    name: str
    set_by: str | None
    set_at: datetime


class SecretsList(BaseModel):
    items: list[SecretPublic]
    next_cursor: str | None = None
