"""Aggregates a process keeps between commands, so a command does not replay them every time.

The execution interpreter records every step of an execution on the same aggregate, one command
after another, and its workflow is that aggregate's only writer. Replaying the whole timeline
before each step made recording cost grow with the number of steps already run (it was about
half of the worker's CPU per onboarding). A command now *takes* the aggregate it needs from here,
fast-forwards it over any events recorded since it was kept (one indexed query that usually
returns nothing), acts, saves, and *gives it back* only once the save has committed.

Why not the eventsourcing library's repository cache: it hands out a deep copy on every get, so
that a command failing halfway cannot leave a half-changed aggregate in the cache; copying a long
timeline costs about as much as replaying it. Taking the aggregate out instead means no copy is
needed: while a command holds it, no other thread can see it; a command that fails (a refusal, a
version conflict, a dropped connection) never gives it back, so the next command replays from
the store. Optimistic concurrency is untouched: a save still carries the versions it read, and a
second writer (another process, a concurrent reminder) still collides and retries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from eventsourcing.domain import Aggregate

DEFAULT_CAPACITY = 4096


class KeptAggregates:
    """A bounded, thread-safe set of aggregates at their last committed version (LRU)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        """The kept aggregate, now owned by the caller alone, or None."""
        with self._lock:
            return self._items.pop(aggregate_id, None)

    def give_back(self, aggregate: Aggregate) -> None:
        """Keep an aggregate whose every event is committed; a newer kept version wins."""
        if self._capacity <= 0 or aggregate.pending_events:
            return
        with self._lock:
            kept = self._items.get(aggregate.id)
            if kept is not None and kept.version > aggregate.version:
                return
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
