"""The Contact aggregate: a person tracked through processes.

Contacts are edited by people and by workflow steps (`update_contact`), often partially, so the
update event records old and new values of exactly the fields that changed: the history reads as
who changed what, and a no-op edit leaves no event behind.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidTransitionError, InvalidValueError
from domain.personal import ERASED, erased, shape
from domain.values import (
    id_text,
    json_object,
    merge_object,
    optional_text,
    required_text,
    utc,
)

UPDATABLE_FIELDS = ("first_name", "last_name", "email", "phone", "fields")


class Contact(Aggregate):
    """A person; identified by at least a first name, a last name or an email.

    Its events' personal attributes (``personal_data``) are stored sealed with the contact's
    own key (domain/personal.py); erasing the contact destroys the key."""

    personal_owner: ClassVar[str] = "id"

    class Created(Aggregate.Created):
        personal_data: ClassVar[tuple[str, ...]] = (
            "first_name",
            "last_name",
            "email",
            "phone",
            "fields",
        )
        org_id: str
        first_name: str | None
        last_name: str | None
        email: str | None
        phone: str | None
        status: str
        fields: dict[str, Any]

    class FieldsUpdated(Aggregate.Event):
        personal_data: ClassVar[tuple[str, ...]] = ("changes",)
        changes: dict[str, dict[str, Any]]

        def apply(self, aggregate: Contact) -> None:
            for name, change in self.changes.items():
                aggregate._assign(name, copy.deepcopy(change["new"]))

    class StatusChanged(Aggregate.Event):
        old_status: str
        new_status: str

        def apply(self, aggregate: Contact) -> None:
            aggregate._status = self.new_status

    class Archived(Aggregate.Event):
        reason: str | None

        def apply(self, aggregate: Contact) -> None:
            aggregate._archived = True
            aggregate._archive_reason = self.reason

    class Exported(Aggregate.Event):
        """An access, not a change: who took the person's data out (GDPR Art. 20) and in which
        format. The state stays as it was, so an archived contact can still be exported."""

        actor: str | None
        format: str

    class Erased(Aggregate.Event):
        """The person's data was erased (GDPR Art. 17): their key is destroyed, so every
        personal attribute of their events reads as erased from now on. Who asked and why; no
        personal data. The contact can no longer change."""

        erased_by: str | None
        reason: str

        def apply(self, aggregate: Contact) -> None:
            aggregate._erased = True
            aggregate._first_name = ERASED
            aggregate._last_name = ERASED
            aggregate._email = ERASED
            aggregate._phone = ERASED
            aggregate._fields = erased(shape(aggregate._fields))

    def __init__(
        self,
        *,
        org_id: str,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
        phone: str | None,
        status: str,
        fields: dict[str, Any],
    ) -> None:
        # Called with the Created event's attributes, both when created and when rebuilt.
        self._org_id = org_id
        self._first_name = first_name
        self._last_name = last_name
        self._email = email
        self._phone = phone
        self._status = status
        self._fields: dict[str, Any] = copy.deepcopy(fields)
        self._archived = False
        self._archive_reason: str | None = None
        self._erased = False

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        contact_id: UUID,
        org_id: str,
        first_name: str | None,
        last_name: str | None,
        email: str | None,
        phone: str | None,
        status: str = "active",
        fields: Mapping[str, Any] | None = None,
        at: datetime,
    ) -> Contact:
        if not isinstance(contact_id, UUID):
            raise InvalidValueError(
                f"contact_id must be a UUID, not {contact_id!r}.", field="contact_id"
            )
        first = optional_text(first_name, field="first_name")
        last = optional_text(last_name, field="last_name")
        address = _email(email)
        _require_identity(first, last, address)
        return cls._create(
            cls.Created,
            id=contact_id,
            timestamp=utc(at),
            org_id=id_text(org_id, field="org_id"),
            first_name=first,
            last_name=last,
            email=address,
            phone=optional_text(phone, field="phone"),
            status=required_text(status, field="status"),
            fields=merge_object({}, json_object(fields, field="fields")),
        )

    def update(self, *, changes: Mapping[str, Any], at: datetime) -> bool:
        """Apply a partial edit; False (and no event) when it changes nothing.

        `fields` is merged key by key and a key given as None is removed, so that clients can
        send only the custom fields they touched.
        """
        self._require_not_archived()
        timestamp = utc(at)
        for key in changes:
            if key not in UPDATABLE_FIELDS:
                raise InvalidValueError(
                    f"{key!r} cannot be updated on a contact; use one of "
                    f"{', '.join(UPDATABLE_FIELDS)} (and change_status for the status).",
                    field=str(key),
                )
        recorded: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            old = self._current(key)
            new = self._normalised(key, value)
            if new != old:
                recorded[key] = {"old": copy.deepcopy(old), "new": new}
        if not recorded:
            return False

        def after(name: str) -> Any:
            return recorded[name]["new"] if name in recorded else self._current(name)

        _require_identity(after("first_name"), after("last_name"), after("email"))
        self.trigger_event(self.FieldsUpdated, timestamp=timestamp, changes=recorded)
        return True

    def change_status(self, *, status: str, at: datetime) -> bool:
        self._require_not_archived()
        timestamp = utc(at)
        new_status = required_text(status, field="status")
        if new_status == self._status:
            return False
        self.trigger_event(
            self.StatusChanged, timestamp=timestamp, old_status=self._status, new_status=new_status
        )
        return True

    def archive(self, *, reason: str | None, at: datetime) -> None:
        self._require_not_archived()
        timestamp = utc(at)
        self.trigger_event(
            self.Archived, timestamp=timestamp, reason=optional_text(reason, field="reason")
        )

    def erase(self, *, erased_by: str | None, reason: str, at: datetime) -> None:
        """Record the erasure (after the contact's key was destroyed); an archived contact can
        be erased, an erased one not again."""
        if self._erased:
            raise InvalidTransitionError(f"contact {self.id} is already erased.")
        self.trigger_event(
            self.Erased,
            timestamp=utc(at),
            erased_by=erased_by,
            reason=required_text(reason, field="reason"),
        )

    def record_export(self, *, actor: str | None, format: str, at: datetime) -> None:
        """Record that the contact's data was exported; allowed when archived (a person keeps
        the right to their data after the org stopped working with them)."""
        self.trigger_event(
            self.Exported,
            timestamp=utc(at),
            actor=actor,
            format=required_text(format, field="format"),
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def first_name(self) -> str | None:
        return self._first_name

    @property
    def last_name(self) -> str | None:
        return self._last_name

    @property
    def email(self) -> str | None:
        return self._email

    @property
    def phone(self) -> str | None:
        return self._phone

    @property
    def status(self) -> str:
        return self._status

    @property
    def fields(self) -> dict[str, Any]:
        return copy.deepcopy(self._fields)

    @property
    def archived(self) -> bool:
        return self._archived

    @property
    def archive_reason(self) -> str | None:
        return self._archive_reason

    @property
    def erased(self) -> bool:
        return self._erased

    # -- helpers -------------------------------------------------------------------------------

    def _require_not_archived(self) -> None:
        if self._erased:
            raise InvalidTransitionError(f"contact {self.id} is erased; it cannot be changed.")
        if self._archived:
            raise InvalidTransitionError(f"contact {self.id} is archived; it cannot be changed.")

    def _current(self, name: str) -> Any:
        return {
            "first_name": self._first_name,
            "last_name": self._last_name,
            "email": self._email,
            "phone": self._phone,
            "fields": self._fields,
        }[name]

    def _normalised(self, name: str, value: Any) -> Any:
        if name == "fields":
            if not isinstance(value, Mapping):
                raise InvalidValueError(
                    f"fields must be an object of custom fields, not {value!r}.", field="fields"
                )
            return merge_object(self._fields, json_object(value, field="fields"))
        if name == "email":
            return _email(value)
        return optional_text(value, field=name)

    def _assign(self, name: str, value: Any) -> None:
        if name == "first_name":
            self._first_name = value
        elif name == "last_name":
            self._last_name = value
        elif name == "email":
            self._email = value
        elif name == "phone":
            self._phone = value
        elif name == "fields":
            self._fields = value


def _email(value: object) -> str | None:
    address = optional_text(value, field="email")
    if address is None:
        return None
    local, at, domain = address.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in address):
        raise InvalidValueError(
            f"{address!r} is not an email address: it needs one '@' with text on both sides.",
            field="email",
        )
    return address


def _require_identity(first_name: str | None, last_name: str | None, email: str | None) -> None:
    if not (first_name or last_name or email):
        raise InvalidValueError(
            "A contact needs at least a first name, a last name or an email.", field="first_name"
        )
