"""An org's named secret: the record that it was set or deleted, never its value.

A credential (an API key a definition's `http_request` sends) must be replaceable and
removable, and events are immutable and kept forever, so the value lives in the secret store
(application/secrets.py: encrypted, its own tables) and the aggregate records only the facts
an auditor needs: which name, who, when. Its version numbers the values, so the store can tell
a newer value from a late retry of an older one.

The aggregate id derives from (org, name): setting a name again, or after a delete, continues
the same history.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import InvalidTransitionError, InvalidValueError
from domain.secret_names import NAME_PATTERN, name_problem
from domain.values import id_text, utc

__all__ = ["NAME_PATTERN", "Secret", "name_problem", "secret_id"]

_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://bytedash.invalid/secrets")


def secret_id(org_id: str, name: str) -> UUID:
    """The aggregate id of an org's secret name."""
    return uuid5(_ID_NAMESPACE, f"{org_id}\x1f{name}")


class Secret(Aggregate):
    class Registered(Aggregate.Created):
        """The name was set for the first time (a `ValueSet` follows in the same save)."""

        org_id: str
        name: str

    class ValueSet(Aggregate.Event):
        """A new value was stored for the name (the value itself is not here)."""

        name: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Secret)
            aggregate._deleted = False

    class Deleted(Aggregate.Event):
        """The value was removed; references to the name no longer resolve."""

        name: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Secret)
            aggregate._deleted = True

    def __init__(self, *, org_id: str, name: str) -> None:
        self._org_id = org_id
        self._name = name
        self._deleted = True

    @classmethod
    def register(cls, *, org_id: str, name: str, at: datetime) -> Secret:
        problem = name_problem(name)
        if problem is not None:
            raise InvalidValueError(problem, field="name")
        org = id_text(org_id, field="org_id")
        return cls._create(
            cls.Registered, id=secret_id(org, name), timestamp=utc(at), org_id=org, name=name
        )

    def set_value(self, *, at: datetime) -> None:
        self.trigger_event(self.ValueSet, timestamp=utc(at), name=self._name)

    def delete(self, *, at: datetime) -> None:
        if self._deleted:
            raise InvalidTransitionError(f"The secret {self._name} is not set.")
        self.trigger_event(self.Deleted, timestamp=utc(at), name=self._name)

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def deleted(self) -> bool:
        return self._deleted
