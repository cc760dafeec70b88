"""What a definition's Temporal Schedule starts at each firing.

A Schedule's action always carries the same arguments, but every firing must become an
execution of its own. Temporal gives each firing a workflow id of its own (the action's id plus
the scheduled time); the execution id derives from that, so a retried firing cannot start a
second execution. The start itself is `worker.starts.start_execution`, the one every other
origin uses, run by an activity.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from worker.activities.schedules import ScheduleActivities
    from worker.contracts import (
        EXECUTION_WORKFLOW,
        SCHEDULED_EXECUTION_WORKFLOW,
        ExecutionInput,
        ScheduledRun,
        execution_workflow_id,
    )
    from worker.starts import Origin

# Firings whose workflow began before the start moved into an activity finish the old way:
# read the input in a local activity, then start the execution as an abandoned child.
START_IN_ACTIVITY_PATCH = "scheduled-run-starts-through-start-execution"
# How long a firing keeps trying to start its execution (reading the definition, starting the
# workflow): a firing runs late rather than not at all through any realistic outage of Postgres
# or Temporal; past this it is dropped, visible as a failed ScheduledExecutionWorkflow, rather
# than retried forever (a bug would otherwise never stop).
START_WINDOW = timedelta(hours=1)


@workflow.defn(name=SCHEDULED_EXECUTION_WORKFLOW)
class ScheduledExecutionWorkflow:
    @workflow.run
    async def run(self, run: ScheduledRun) -> str | None:
        if workflow.patched(START_IN_ACTIVITY_PATCH):
            return await workflow.execute_activity_method(
                ScheduleActivities.start_scheduled_execution,
                run,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=START_WINDOW,
                # Bounded by START_WINDOW.
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
        execution: ExecutionInput | None = await workflow.execute_local_activity_method(
            ScheduleActivities.scheduled_execution_input,
            run,
            start_to_close_timeout=timedelta(seconds=30),
        )
        if execution is None:
            return None  # deactivated (or no longer scheduled) since the schedule fired
        execution_id = Origin("schedule", key=workflow.info().workflow_id).execution_id()
        execution = execution.model_copy(update={"execution_id": execution_id})
        await workflow.start_child_workflow(
            EXECUTION_WORKFLOW,
            execution,
            id=execution_workflow_id(execution_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return execution_id
