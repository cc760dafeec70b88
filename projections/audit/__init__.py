"""The auditors' side of the read model: the event store itself, queried and verified.

Read models answer "what is"; auditors ask "what happened, who did it, which workflow caused
it, what did it look like then, and has anyone changed the record?". These functions answer
from the ``events`` table directly (never from read models), always scoped by org first, and
return JSON-ready dicts. ``verify_chain`` checks the hash chain of migration 0003 over the
whole store (it is not scoped by org: the chain runs through every org's events).
"""

from projections.audit.aggregates import AGGREGATE_TYPES
from projections.audit.events import EventFilter, list_events, stream_events
from projections.audit.history import aggregate_history
from projections.audit.integrity import IntegrityReport, verify_chain
from projections.audit.lineage import contact_lineage
from projections.audit.state import aggregate_state
from projections.audit.workflows import workflow_events, workflow_summary

__all__ = [
    "AGGREGATE_TYPES",
    "EventFilter",
    "IntegrityReport",
    "aggregate_history",
    "aggregate_state",
    "contact_lineage",
    "list_events",
    "stream_events",
    "verify_chain",
    "workflow_events",
    "workflow_summary",
]
