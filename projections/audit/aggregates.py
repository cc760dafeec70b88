"""The aggregate types auditors may name, as the event store spells them.

The names are the recorder's (``aggregate_type`` column: the class name in snake case), so a
type in a URL is the very value in the table. Checked up front so that a typo answers with the
list of valid types instead of an empty result that looks like "no such aggregate".
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.admin_action import AdminAction
from domain.contact import Contact
from domain.definition import WorkflowDefinition
from domain.execution import WorkflowExecution
from domain.secret import Secret
from domain.task import Task

AGGREGATE_TYPES: dict[str, type[Aggregate]] = {
    "admin_action": AdminAction,
    "contact": Contact,
    "secret": Secret,
    "task": Task,
    "workflow_definition": WorkflowDefinition,
    "workflow_execution": WorkflowExecution,
}


def aggregate_class(aggregate_type: str) -> type[Aggregate]:
    """The domain class of `aggregate_type`; ValueError naming the valid types otherwise."""
    try:
        return AGGREGATE_TYPES[aggregate_type]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown aggregate type {aggregate_type!r}; valid types are "
            f"{', '.join(AGGREGATE_TYPES)}"
        ) from None
