"""Record triggers: contact events start executions of definitions that ask for them.

``record_created`` fires on a new contact, ``record_updated`` on any change of one (fields or
status), ``field_changed`` when the trigger's ``field`` (a contact field, ``status``, or
``fields.<key>``) changed, ``record_deleted`` when a contact is archived (the domain's delete,
so the execution still reads the archived contact; an erasure starts none of them). The follower
is a projection of the projector's own machinery, so it reads the store in position order and
commits its position in the same transaction as its state:

* its state is ``trigger_definitions``: which definitions are active with which trigger, kept
  from the definition events of the same stream, so a contact event is matched against the
  definitions as they stood at that point of the history;
* each match starts the execution whose id derives from (definition, event position), through
  `worker.starts.start_execution` like every other start, before the batch commits. If the
  start fails the batch rolls back and is retried, and a start that went through before a crash
  is refused by Temporal the second time: each matching event starts exactly one execution.

A ``Contact.Erased`` event starts the contact's erasure on Temporal's side (one
`ContactErasureWorkflow` per contact, worker/workflows/erasure.py): its running executions are
cancelled with the reason ``contact erased``, then the keys of its workflows' Temporal payloads are
destroyed (docs/engine.md "Erased contacts").

It lives in ``interfaces`` because it starts workflows (``projections`` may not import the worker).
An execution's own changes to its contact never re-trigger the same definition (its events carry
the actor ``trigger:<definition id>``), which stops a definition from feeding itself forever.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import structlog
from psycopg import Connection, Cursor, sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError

from projections.base import Projection
from projections.events import RecordedEvent
from projections.tables import TableNames
from worker.contracts import CommandMeta, ExecutionInput
from worker.converter import PayloadKeys, payload_keys, sealed_data_converter
from worker.erasure_calls import CONTACT_ERASURE_WORKFLOW, ContactErasure, erasure_workflow_id
from worker.starts import Origin, Started, execution_input, start_execution

log = structlog.get_logger(__name__)
T = TypeVar("T")

NAME = "triggers"
RECORD_TRIGGERS = ("record_created", "record_updated", "field_changed", "record_deleted")

DEFINITION_EVENTS = {
    "WorkflowDefinition.Created",
    "WorkflowDefinition.VersionPublished",
    "WorkflowDefinition.Activated",
    "WorkflowDefinition.Deactivated",
}
CONTACT_EVENTS = {
    "Contact.Created",
    "Contact.FieldsUpdated",
    "Contact.StatusChanged",
    "Contact.Archived",
}
ERASED = "Contact.Erased"


class TemporalStarter:
    """A Temporal client on an event loop of its own thread, for the projector's sync code."""

    def __init__(
        self,
        address: str,
        namespace: str,
        task_queue: str,
        sealed_by: tuple[str, bytes | None, bytes | None] | None = None,
    ) -> None:
        """`sealed_by` (database URL, master key, previous master key) seals the inputs it
        hands Temporal (application/privacy/codec.py); a record trigger's payload carries the
        contact's changes."""
        self.task_queue = task_queue
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="triggers-temporal")
        self._thread.daemon = True
        self._thread.start()
        self._keys: PayloadKeys | None = None if sealed_by is None else payload_keys(*sealed_by)
        converter = (
            pydantic_data_converter if self._keys is None else sealed_data_converter(self._keys)
        )
        self.client: Client = self.run(
            Client.connect(address, namespace=namespace, data_converter=converter)
        )

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def start(self, execution: ExecutionInput, origin: Origin) -> Started:
        return self.run(start_execution(self.client, self.task_queue, execution, origin))

    def erase(self, erasure: ContactErasure) -> bool:
        """Start the contact's erasure workflow; False when it was started before (a replayed
        event)."""

        async def start() -> bool:
            try:
                await self.client.start_workflow(
                    CONTACT_ERASURE_WORKFLOW,
                    erasure,
                    id=erasure_workflow_id(erasure.contact_id),
                    task_queue=self.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            except WorkflowAlreadyStartedError:
                return False
            return True

        return self.run(start())

    def close(self) -> None:
        if self._keys is not None:
            self.run(self._keys.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def changed_fields(event: RecordedEvent) -> set[str]:
    """Names a ``field_changed`` trigger can watch that this contact event changed."""
    if event.event_type == "Contact.StatusChanged":
        return {"status"}
    if event.event_type != "Contact.FieldsUpdated":
        return set()
    names: set[str] = set()
    for name, change in (event.data.get("changes") or {}).items():
        names.add(name)
        if name == "fields" and isinstance(change, dict):
            old, new = change.get("old") or {}, change.get("new") or {}
            names.update(
                f"fields.{key}" for key in set(old) | set(new) if old.get(key) != new.get(key)
            )
    return names


def matches(trigger_type: str, trigger: dict[str, Any], event: RecordedEvent) -> bool:
    if trigger_type == "record_created":
        return event.event_type == "Contact.Created"
    if trigger_type == "record_updated":
        return event.event_type in ("Contact.FieldsUpdated", "Contact.StatusChanged")
    if trigger_type == "field_changed":
        return str(trigger.get("field")) in changed_fields(event)
    if trigger_type == "record_deleted":
        return event.event_type == "Contact.Archived"
    return False


def _archived(event: RecordedEvent) -> dict[str, Any]:
    """What a `record_deleted` start adds to its payload: why the contact was archived."""
    if event.event_type != "Contact.Archived":
        return {}
    return {"reason": event.data.get("reason")}


class TriggerFollower(Projection):
    def __init__(self, starter: TemporalStarter) -> None:
        self.name = NAME
        self.event_types = frozenset(DEFINITION_EVENTS | CONTACT_EVENTS | {ERASED})
        self.tables = TableNames({"trigger_definitions": "trigger_definitions"})
        self._starter = starter

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        table = self.tables.ident("trigger_definitions")
        select = sql.SQL(
            "SELECT * FROM {} WHERE is_active AND org_id = %s AND trigger_type = ANY(%s)"
        ).format(table)
        with conn.cursor(row_factory=dict_row) as cur:
            for event in events:
                if event.event_type in DEFINITION_EVENTS:
                    self._apply_definition_event(cur, table, event)
                    continue
                if event.event_type == ERASED:
                    self._erase(event)
                    continue
                cur.execute(select, (event.org_id, list(RECORD_TRIGGERS)))
                for definition in cur.fetchall():
                    self._fire(definition, event)

    def _apply_definition_event(
        self, cur: Cursor[DictRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        data = event.data
        if event.event_type == "WorkflowDefinition.Created":
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (definition_id, org_id) VALUES (%s, %s)"
                    " ON CONFLICT (definition_id) DO NOTHING"
                ).format(table),
                (event.originator_id, data.get("org_id") or event.org_id),
            )
        elif event.event_type == "WorkflowDefinition.VersionPublished":
            trigger = data.get("trigger") or {}
            body = {k: data.get(k) for k in ("name", "description", "statuses", "steps")}
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET version = %s, trigger_type = %s, trigger = %s, body = %s"
                    " WHERE definition_id = %s"
                ).format(table),
                (
                    int(data["version"]),
                    trigger.get("type"),
                    Jsonb(trigger),
                    Jsonb(body),
                    event.originator_id,
                ),
            )
        else:
            active = event.event_type == "WorkflowDefinition.Activated"
            cur.execute(
                sql.SQL("UPDATE {} SET is_active = %s WHERE definition_id = %s").format(table),
                (active, event.originator_id),
            )

    def _erase(self, event: RecordedEvent) -> None:
        erasure = ContactErasure(
            org_id=event.org_id,
            contact_id=str(event.originator_id),
            actor=event.data.get("erased_by") or event.actor,
            reason=event.data.get("reason"),
        )
        started = self._starter.erase(erasure)
        log.info(
            "erasure.started" if started else "erasure.already_started",
            contact_id=erasure.contact_id,
            position=event.position,
        )

    def _fire(self, definition: dict[str, Any], event: RecordedEvent) -> None:
        definition_id = str(definition["definition_id"])
        trigger_type = str(definition["trigger_type"])
        trigger = dict(definition["trigger"] or {})
        if event.actor == f"trigger:{definition_id}" or not matches(trigger_type, trigger, event):
            return
        origin = Origin("trigger", scope=definition_id, key=str(event.position))
        execution_id = origin.execution_id()
        execution = execution_input(
            meta=CommandMeta(
                org_id=str(definition["org_id"]),
                actor=f"trigger:{definition_id}",
                source="trigger",
                correlation_id=event.correlation_id,
            ),
            execution_id=execution_id,
            definition_id=definition_id,
            definition_version=int(definition["version"]),
            definition=dict(definition["body"]),
            contact_id=str(event.originator_id),
            payload={
                "event_type": event.event_type,
                "position": event.position,
                "changes": event.data.get("changes") or {},
                **_archived(event),
            },
            trigger={
                "type": trigger_type,
                "field": trigger.get("field"),
                "event_type": event.event_type,
                "event_position": event.position,
            },
        )
        started = self._starter.start(execution, origin)
        log.info(
            "trigger.already_fired" if started.duplicate else "trigger.fired",
            definition_id=definition_id,
            execution_id=execution_id,
            position=event.position,
            trigger=trigger_type,
        )
