"""A tiny aggregate and service for testing the event store without the real domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.metadata import CommandContext
from application.services.base import Outcome, Service, derived_id


class Counter(Aggregate):
    class Created(Aggregate.Created):
        org_id: str
        name: str

    class Incremented(Aggregate.Event):
        by: int

        def apply(self, aggregate: Any) -> None:
            aggregate.count += self.by

    def __init__(self, org_id: str, name: str) -> None:
        self.org_id = org_id
        self.name = name
        self.count = 0

    @classmethod
    def make(cls, counter_id: UUID, org_id: str, name: str, at: datetime) -> Counter:
        return cls._create(cls.Created, id=counter_id, org_id=org_id, name=name, timestamp=at)

    def increment(self, by: int, at: datetime) -> None:
        self.trigger_event(self.Incremented, by=by, timestamp=at)


class CounterService(Service):
    def create(self, ctx: CommandContext, name: str) -> UUID:
        counter_id = derived_id("counter", ctx)

        def run(now: datetime) -> Outcome:
            return counter_id, [Counter.make(counter_id, ctx.org_id, name, now)]

        return self._execute(ctx, run)

    def increment(self, ctx: CommandContext, counter_id: UUID, by: int = 1) -> UUID:
        def run(now: datetime) -> Outcome:
            counter = self._load(Counter, "counter", counter_id, ctx)
            counter.increment(by, now)
            return counter_id, [counter]

        return self._execute(ctx, run)

    def get(self, counter_id: UUID) -> Counter:
        counter: Aggregate = self.repository.get(counter_id)
        assert isinstance(counter, Counter)
        return counter
