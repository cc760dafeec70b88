"""The read side: read-model tables filled from the event store, and queries over them.

Entry points: `Projector` (runner), `default_projections()`, `Projection` (to add a read model),
and `projections.queries` for the API.
"""

from projections.base import Projection
from projections.events import RecordedEvent
from projections.registry import default_projections, projection_named, spread
from projections.runner import Projector
from projections.tables import TableNames

__all__ = [
    "Projection",
    "Projector",
    "RecordedEvent",
    "TableNames",
    "default_projections",
    "projection_named",
    "spread",
]
