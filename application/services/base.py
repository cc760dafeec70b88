"""What every command method shares: loading within an org, idempotency, optimistic retries.

Each service is an eventsourcing ``Application`` over the shared ``events`` table. A command
method builds a closure that loads aggregates and calls their command methods; ``_execute`` runs
it so that:

* the same ``command_id`` a second time appends nothing and returns the first outcome (looked
  up by the ``command_id`` column, and enforced by each event's command-derived ``event_id``);
* a conflict with a concurrent writer (same aggregate version) reloads and retries;
* every event is saved with the command's metadata and one occurrence time from the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper

from application.errors import ConcurrencyError, NotFoundError
from application.metadata import CommandContext
from application.store.infrastructure import EventStoreInfrastructure

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]
Outcome = tuple[UUID, Sequence[Aggregate]]

MAX_ATTEMPTS = 5
_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://bytedash.invalid/aggregates")


def utc_now() -> datetime:
    return datetime.now(UTC)


def derived_id(kind: str, ctx: CommandContext) -> UUID:
    """The id a creating command gives its aggregate: the same for every retry of the command."""
    return uuid5(_ID_NAMESPACE, f"{kind}:{ctx.org_id}:{ctx.command_id}")


class Service(Application[UUID]):
    """Base of the command services; built by the composition root around shared infrastructure."""

    def __init__(self, store: EventStoreInfrastructure, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock
        super().__init__(env={"IS_SNAPSHOTTING_ENABLED": "n"})

    def construct_mapper(self) -> Mapper[UUID]:
        return self._store.mapper

    def construct_recorder(self) -> ApplicationRecorder:
        return self._store.recorder

    def _load(self, cls: type[A], kind: str, aggregate_id: UUID, ctx: CommandContext) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind, aggregate_id) from None
        if not isinstance(aggregate, cls) or getattr(aggregate, "org_id", None) != ctx.org_id:
            raise NotFoundError(kind, aggregate_id)
        return aggregate

    def _execute(self, ctx: CommandContext, run: Callable[[datetime], Outcome]) -> UUID:
        previous = self._store.recorder.command_outcome(ctx.command_id)
        if previous is not None:
            return previous
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()
            result, aggregates = run(now)
            try:
                self.save(*aggregates, metadata=ctx.stamped(now))
            except IntegrityError:
                previous = self._store.recorder.command_outcome(ctx.command_id)
                if previous is not None:
                    return previous  # a concurrent run of the same command won the race
                continue  # another command took our version: reload and decide again
            return result
        raise ConcurrencyError(
            f"command {ctx.command_id} kept conflicting with concurrent changes; try again"
        )
