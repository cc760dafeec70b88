"""Erasing a contact from Temporal's side: its running executions end, then the keys that open
its workflows' payloads are destroyed.

Started once per `Contact.Erased` event by the record-trigger follower. The order matters: an
execution still running when its key is gone could not read its own history again (every
replay decodes it), so it would be stuck retrying its workflow task forever. It is cancelled
first, with the reason `contact erased: <the erasure's reason>` recorded on the execution like
any cancel (its open tasks are cancelled too), and the keys are destroyed once it has closed, or
after `CLOSE_WINDOW` whatever it does (an execution that does not close in time is left to fail
on the missing key, which Temporal reports; the erasure itself never waits on it).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from worker.contracts import CANCEL_SIGNAL, CancelRequest, execution_workflow_id
    from worker.erasure_calls import (
        CONTACT_ERASURE_WORKFLOW,
        ContactErasure,
        ErasureActivities,
        ErasureOutcome,
    )

CLOSE_WINDOW = timedelta(seconds=60)
_POLL = timedelta(seconds=1)


@workflow.defn(name=CONTACT_ERASURE_WORKFLOW)
class ContactErasureWorkflow:
    @workflow.run
    async def run(self, erasure: ContactErasure) -> ErasureOutcome:
        running: list[str] = await workflow.execute_activity_method(
            ErasureActivities.running_executions,
            erasure,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        request = CancelRequest(reason=erasure.cancel_reason(), actor=erasure.actor)
        for execution_id in running:
            handle = workflow.get_external_workflow_handle(execution_workflow_id(execution_id))
            try:
                await handle.signal(CANCEL_SIGNAL, request)
                await handle.cancel()
            except Exception:  # closed between the check and the signal: nothing to cancel
                workflow.logger.info("erasure: execution %s already closed", execution_id)
        left = list(running)
        waited = timedelta(0)
        while left and waited < CLOSE_WINDOW:
            await workflow.sleep(_POLL)
            waited += _POLL
            left = await workflow.execute_activity_method(
                ErasureActivities.still_running,
                left,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
        destroyed: int = await workflow.execute_activity_method(
            ErasureActivities.destroy_payload_keys,
            erasure,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        return ErasureOutcome(cancelled=running, still_running=left, keys_destroyed=destroyed)
