"""Contact commands: create, update fields or status, archive, erase."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id
from domain.contact import Contact


@dataclass(frozen=True)
class ContactDraft:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str = "active"
    fields: dict[str, Any] = field(default_factory=dict)
    contact_id: UUID | None = None


class ContactService(Service):
    def create_contact(self, ctx: CommandContext, draft: ContactDraft) -> UUID:
        contact_id = draft.contact_id or derived_id("contact", ctx)

        def run(now: datetime) -> Outcome:
            contact = Contact.create(
                contact_id=contact_id,
                org_id=ctx.org_id,
                first_name=draft.first_name,
                last_name=draft.last_name,
                email=draft.email,
                phone=draft.phone,
                status=draft.status,
                fields=dict(draft.fields),
                at=now,
            )
            return contact_id, [contact]

        return self._execute(ctx, run)

    def update_contact(
        self, ctx: CommandContext, contact_id: UUID, changes: Mapping[str, Any]
    ) -> UUID:
        """Apply a PATCH: field changes and, when present, a status change, as one command."""
        field_changes = {k: v for k, v in changes.items() if k != "status"}
        new_status = changes.get("status")

        def run(now: datetime) -> Outcome:
            contact = self._load(Contact, "contact", contact_id, ctx)
            if field_changes:
                contact.update(changes=field_changes, at=now)
            if new_status is not None:
                contact.change_status(status=str(new_status), at=now)
            return contact_id, [contact]

        return self._execute(ctx, run)

    def change_contact_status(self, ctx: CommandContext, contact_id: UUID, status: str) -> UUID:
        def run(now: datetime) -> Outcome:
            contact = self._load(Contact, "contact", contact_id, ctx)
            contact.change_status(status=status, at=now)
            return contact_id, [contact]

        return self._execute(ctx, run)

    def archive_contact(self, ctx: CommandContext, contact_id: UUID, reason: str | None) -> UUID:
        def run(now: datetime) -> Outcome:
            contact = self._load(Contact, "contact", contact_id, ctx)
            contact.archive(reason=reason, at=now)
            return contact_id, [contact]

        return self._execute(ctx, run)

    def erase_contact(self, ctx: CommandContext, contact_id: UUID, reason: str) -> UUID:
        """Erase the person's data (GDPR Art. 17): destroy the contact's key, then record
        `Contact.Erased`. The key goes first, so a crash in between leaves the data unreadable,
        and the retried command records the event; an erased contact is refused (409)."""

        def run(now: datetime) -> Outcome:
            contact = self._load(Contact, "contact", contact_id, ctx)
            contact.erase(erased_by=ctx.actor, reason=reason, at=now)  # checks before the key goes
            self._store.contact_keys.destroy(ctx.org_id, contact_id, ctx.actor, reason.strip(), now)
            return contact_id, [contact]

        return self._execute(ctx, run)

    def record_contact_export(self, ctx: CommandContext, contact_id: UUID, format: str) -> UUID:
        """The access event of an export: the export itself is a read, its record an event."""

        def run(now: datetime) -> Outcome:
            contact = self._load(Contact, "contact", contact_id, ctx)
            contact.record_export(actor=ctx.actor, format=format, at=now)
            return contact_id, [contact]

        return self._execute(ctx, run)

    def get_contact(self, ctx: CommandContext, contact_id: UUID) -> Contact:
        return self._read(Contact, "contact", contact_id, ctx)
