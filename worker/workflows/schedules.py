"""What a definition's Temporal Schedule starts at each firing.

A Schedule's action always carries the same arguments, but every firing must become an
execution of its own. Temporal gives each firing a workflow id of its own (the action's id plus
the scheduled time), so this workflow derives the execution id from that and starts the
interpreter as an abandoned child: the execution outlives this short workflow, and a retried
firing derives the same id and cannot start a second execution.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from worker.contracts import (
        EXECUTION_WORKFLOW,
        SCHEDULED_EXECUTION_WORKFLOW,
        ExecutionInput,
        ScheduledRun,
        execution_workflow_id,
    )

# Fixed forever: a change would let a retried firing start a second execution.
SCHEDULED_NAMESPACE = uuid.UUID("7c3e9d8a-51f4-4b8e-9f0a-2d6b4c1e8a55")


@workflow.defn(name=SCHEDULED_EXECUTION_WORKFLOW)
class ScheduledExecutionWorkflow:
    @workflow.run
    async def run(self, run: ScheduledRun) -> str | None:
        execution: ExecutionInput | None = await workflow.execute_local_activity(
            "scheduled_execution_input",
            run,
            result_type=ExecutionInput | None,  # type: ignore[arg-type]
            start_to_close_timeout=timedelta(seconds=30),
        )
        if execution is None:
            return None  # deactivated (or no longer scheduled) since the schedule fired
        execution_id = str(uuid.uuid5(SCHEDULED_NAMESPACE, workflow.info().workflow_id))
        execution = execution.model_copy(update={"execution_id": execution_id})
        await workflow.start_child_workflow(
            EXECUTION_WORKFLOW,
            execution,
            id=execution_workflow_id(execution_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return execution_id
