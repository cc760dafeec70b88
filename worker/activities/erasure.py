"""The erasure workflow's activities: which of the contact's executions still run (Temporal is
the authority on that), and destroying the payload keys of the contact's workflows."""

from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from application.privacy.erasure import contact_executions, contact_workflows
from application.privacy.erasure import destroy_payload_keys as destroy
from worker.contracts import execution_workflow_id
from worker.erasure_calls import ContactErasure, ErasureActivities


class ContactErasureActivities(ErasureActivities):
    def __init__(self, datastore: PostgresDatastore, client: Client) -> None:
        self._datastore = datastore
        self._client = client

    @activity.defn(name="erasure_running_executions")
    async def running_executions(self, erasure: ContactErasure) -> list[str]:
        with self._datastore.get_connection() as conn:
            ids = contact_executions(conn, erasure.org_id, erasure.contact_id)
        return await self.still_running(ids)

    @activity.defn(name="erasure_still_running")
    async def still_running(self, execution_ids: list[str]) -> list[str]:
        running: list[str] = []
        for execution_id in execution_ids:
            handle = self._client.get_workflow_handle(execution_workflow_id(execution_id))
            try:
                description = await handle.describe()
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    continue  # never started, or past the namespace's retention
                raise
            if description.status == WorkflowExecutionStatus.RUNNING:
                running.append(execution_id)
        return running

    @activity.defn(name="erasure_destroy_payload_keys")
    def destroy_payload_keys(self, erasure: ContactErasure) -> int:
        with self._datastore.get_connection() as conn:
            workflows = contact_workflows(conn, erasure.org_id, erasure.contact_id)
            return destroy(conn, workflows, erasure.key_reason())
