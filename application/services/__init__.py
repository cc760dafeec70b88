"""The command services, one per aggregate, sharing one event store."""

from application.services.base import Service, derived_id
from application.services.contacts import ContactDraft, ContactService
from application.services.definitions import DefinitionService
from application.services.executions import ExecutionService
from application.services.tasks import TaskDraft, TaskService

__all__ = [
    "ContactDraft",
    "ContactService",
    "DefinitionService",
    "ExecutionService",
    "Service",
    "TaskDraft",
    "TaskService",
    "derived_id",
]
