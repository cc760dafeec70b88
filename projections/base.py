"""What a projection is, to the runner: a name, the events it reads, the tables it owns, and
how it applies one batch of events inside the runner's transaction.

The runner owns the transaction, the tracking row and the advisory lock; a projection only turns
events into rows. Keeping the two apart is what lets one runner drive the live read models, a
rebuild into ``__rebuild`` copies, and the test-only projections that prove exactly-once.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Self

from psycopg import Connection

from projections.events import RecordedEvent
from projections.tables import TableNames


class Projection(ABC):
    """A read model fed by the event stream.

    Attributes:
        name: the tracking row's name and the advisory lock's seed; plural noun (``tasks``).
        event_types: the only event types read for it (filtered in SQL).
        tables: logical → physical names of every table it writes.
        reads_personal_data: False for a projection that uses none of the events' personal
            attributes: its batches read them as erased, without the contacts' keys (cheaper,
            and it holds no one's personal data even for a moment).
    """

    name: str
    event_types: frozenset[str]
    tables: TableNames
    reads_personal_data: bool = True

    @abstractmethod
    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        """Write the effect of `events` (in position order) inside the caller's transaction.

        Must not commit, and must leave nothing behind outside the transaction: the runner
        rolls back on any error and retries the same batch later.
        """

    def with_suffix(self, suffix: str) -> Self:
        """The same projection tracked as ``name + suffix``, writing ``table + suffix`` tables.

        This is how a rebuild runs beside the live projection without touching its rows or its
        position.
        """
        clone = copy.copy(self)
        clone.name = self.name + suffix
        clone.tables = self.tables.with_suffix(suffix)
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} tables={dict(self.tables)}>"
