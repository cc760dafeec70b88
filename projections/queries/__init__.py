"""Read queries for the API: plain functions over a connection, always scoped by org first."""

from projections.queries.contacts import get_contact, list_contacts
from projections.queries.definitions import get_definition, list_definitions
from projections.queries.executions import get_execution, list_executions
from projections.queries.pagination import MAX_LIMIT, Page
from projections.queries.status import projection_status
from projections.queries.tasks import get_task, list_my_tasks, list_tasks

__all__ = [
    "MAX_LIMIT",
    "Page",
    "get_contact",
    "get_definition",
    "get_execution",
    "get_task",
    "list_contacts",
    "list_definitions",
    "list_executions",
    "list_my_tasks",
    "list_tasks",
    "projection_status",
]
