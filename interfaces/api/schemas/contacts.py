"""Contact DTOs: ``POST /contacts``, ``PATCH /contacts/{id}``, ``GET /contacts[/{id}]``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, field_validator

from interfaces.api.schemas.common import PublicModel, RequestBody, refuse_null

Name = Annotated[str, Field(max_length=200)]
Email = Annotated[str, Field(max_length=320)]
Phone = Annotated[str, Field(max_length=50)]
ContactStatus = Annotated[
    str, Field(min_length=1, max_length=64, description="Free text, e.g. active, lead.")
]


class ContactCreate(RequestBody):
    """A new contact: at least a first name, a last name or an email (checked by the domain)."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    status: ContactStatus = "active"
    fields: dict[str, Any] = Field(default_factory=dict, description="Free custom fields.")


class ContactUpdate(RequestBody):
    """A PATCH: only the fields present change; null clears a name, email or phone.

    ``fields`` is merged into the contact's custom fields (a key set to null removes it).
    """

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    status: ContactStatus | None = None
    fields: dict[str, Any] | None = None

    _not_null = field_validator("status", "fields")(refuse_null)


class ContactPublic(PublicModel):
    id: UUID
    org_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    status: str
    fields: dict[str, Any]
    archived: bool
    archived_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class ContactsPage(PublicModel):
    items: list[ContactPublic]
    next_cursor: str | None
