"""Builds every command service over one shared event store (one connection pool).

Called from a composition root (the worker's ``main``, tests, benchmarks), never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.services import ContactService, DefinitionService, ExecutionService, TaskService
from application.services.admin import AdminService
from application.services.base import Clock, utc_now
from application.store import EventStoreInfrastructure


@dataclass
class Services:
    store: EventStoreInfrastructure
    contacts: ContactService
    tasks: TaskService
    definitions: DefinitionService
    executions: ExecutionService
    admin: AdminService

    def close(self) -> None:
        self.store.close()


def build_services(
    database_url: str,
    *,
    clock: Clock = utc_now,
    pool_size: int = 5,
    master_key: bytes | None = None,
    previous_master_key: bytes | None = None,
    sealing: bool = True,
) -> Services:
    """`master_key` (BYTEDASH_MASTER_KEY, None: the development key) wraps contacts' data keys
    (application/privacy/keys.py); `sealing=False` stores personal data in clear (bench only)."""
    store = EventStoreInfrastructure(
        database_url,
        pool_size=pool_size,
        master_key=master_key,
        previous_master_key=previous_master_key,
        sealing=sealing,
    )
    return Services(
        store=store,
        contacts=ContactService(store, clock),
        tasks=TaskService(store, clock),
        definitions=DefinitionService(store, clock),
        executions=ExecutionService(store, clock),
        admin=AdminService(store, clock),
    )
