"""The WorkflowDefinition aggregate: versioned, validated process definitions.

A definition is never edited in place: each change publishes a new immutable version, because
running executions keep the version they started with and must still be able to read it. Every
version is validated as a whole before it is published, and the event stores the normalised body
(steps in run order, every key present), so readers never need to re-apply defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.definition_model import Definition
from domain.definition_validation import parse_definition
from domain.errors import InvalidValueError
from domain.values import id_text, utc


class WorkflowDefinition(Aggregate):
    """A named process whose versions are published, and which is active or not as a whole."""

    class Created(Aggregate.Created):
        org_id: str

    class VersionPublished(Aggregate.Event):
        version: int
        name: str
        description: str | None
        statuses: list[dict[str, Any]]
        steps: list[dict[str, Any]]
        trigger: dict[str, Any]

        def apply(self, aggregate: WorkflowDefinition) -> None:
            aggregate._versions[self.version] = {
                "name": self.name,
                "description": self.description,
                "statuses": copy.deepcopy(self.statuses),
                "steps": copy.deepcopy(self.steps),
            }
            aggregate._current_version = self.version

    class Activated(Aggregate.Event):
        version: int

        def apply(self, aggregate: WorkflowDefinition) -> None:
            aggregate._active = True

    class Deactivated(Aggregate.Event):
        def apply(self, aggregate: WorkflowDefinition) -> None:
            aggregate._active = False

    class WebhookSecretRotated(Aggregate.Event):
        """Only the secret's generation is recorded: the secret itself is derived from a server
        key and this number, so it appears in no event, table or log."""

        generation: int

        def apply(self, aggregate: WorkflowDefinition) -> None:
            aggregate._webhook_secret_generation = self.generation

    def __init__(self, *, org_id: str) -> None:
        # Called with the Created event's attributes, both when created and when rebuilt.
        self._org_id = org_id
        self._versions: dict[int, dict[str, Any]] = {}
        self._current_version = 0
        self._active = False
        self._webhook_secret_generation = 1

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, *, definition_id: UUID, org_id: str, body: Mapping[str, Any], at: datetime
    ) -> WorkflowDefinition:
        """Validate `body` and create the definition with it as version 1, inactive."""
        if not isinstance(definition_id, UUID):
            raise InvalidValueError(
                f"definition_id must be a UUID, not {definition_id!r}.", field="definition_id"
            )
        timestamp = utc(at)
        owner = id_text(org_id, field="org_id")
        definition = parse_definition(body)
        aggregate = cls._create(cls.Created, id=definition_id, timestamp=timestamp, org_id=owner)
        aggregate._publish(definition, timestamp)
        return aggregate

    def publish_version(self, *, body: Mapping[str, Any], at: datetime) -> int:
        """Validate `body` and publish it as the next version; returns its number."""
        timestamp = utc(at)
        definition = parse_definition(body)
        self._publish(definition, timestamp)
        return self._current_version

    def activate(self, *, at: datetime) -> bool:
        timestamp = utc(at)
        if self._active:
            return False
        self.trigger_event(self.Activated, timestamp=timestamp, version=self._current_version)
        return True

    def deactivate(self, *, at: datetime) -> bool:
        timestamp = utc(at)
        if not self._active:
            return False
        self.trigger_event(self.Deactivated, timestamp=timestamp)
        return True

    def rotate_webhook_secret(self, *, at: datetime) -> int:
        """Retire the current webhook secret; returns the new generation (the old one stops
        verifying at once)."""
        timestamp = utc(at)
        generation = self._webhook_secret_generation + 1
        self.trigger_event(self.WebhookSecretRotated, timestamp=timestamp, generation=generation)
        return generation

    # -- state ---------------------------------------------------------------------------------

    @property
    def webhook_secret_generation(self) -> int:
        return self._webhook_secret_generation

    @property
    def org_id(self) -> str:
        return self._org_id

    @property
    def current_version(self) -> int:
        return self._current_version

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def name(self) -> str:
        return str(self._versions[self._current_version]["name"])

    @property
    def versions(self) -> dict[int, dict[str, Any]]:
        """Every published version's normalised body, by version number."""
        return copy.deepcopy(self._versions)

    def get_version(self, number: int) -> dict[str, Any]:
        """The normalised body of version `number`.

        Not called `version`: that name is the library's aggregate version (its event count).
        """
        if number not in self._versions:
            raise InvalidValueError(
                f"workflow definition {self.id} has no version {number!r}; it has versions "
                f"1 to {self._current_version}.",
                field="version",
            )
        return copy.deepcopy(self._versions[number])

    def definition(self, number: int | None = None) -> Definition:
        """The parsed model of version `number` (default: the current one), for the engine."""
        chosen = self._current_version if number is None else number
        return Definition.from_dict(self.get_version(chosen))

    @property
    def trigger(self) -> dict[str, Any]:
        """The current version's trigger config (its `type` says how executions start)."""
        return self.definition().trigger_config

    # -- helpers -------------------------------------------------------------------------------

    def _publish(self, definition: Definition, timestamp: datetime) -> None:
        body = definition.to_dict()
        self.trigger_event(
            self.VersionPublished,
            timestamp=timestamp,
            version=self._current_version + 1,
            name=body["name"],
            description=body["description"],
            statuses=body["statuses"],
            steps=body["steps"],
            trigger=definition.trigger_config,
        )
