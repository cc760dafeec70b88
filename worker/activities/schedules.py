"""Activities behind `schedule` triggers: keeping a definition's Temporal Schedule in step with
it, and building the input of each scheduled execution.

Temporal Schedules rather than a cron loop of our own: they survive worker restarts, catch up
or skip missed runs by policy, show in the Temporal UI, and can be paused or triggered by hand.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import structlog
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from application.bundle import Services
from application.errors import NotFoundError
from application.metadata import CommandContext
from domain.definition import WorkflowDefinition
from worker.contracts import (
    SCHEDULED_EXECUTION_WORKFLOW,
    CommandMeta,
    ExecutionInput,
    ScheduledRun,
    ScheduleSync,
    definition_schedule_id,
)

log = structlog.get_logger(__name__)


def _reader(org_id: str) -> CommandContext:
    return CommandContext.new(org_id, source="schedule")


class ScheduleActivities:
    def __init__(self, services: Services, client: Client, task_queue: str) -> None:
        self._services = services
        self._client = client
        self._task_queue = task_queue

    def _definition(self, org_id: str, definition_id: str) -> WorkflowDefinition | None:
        try:
            return self._services.definitions.get_definition(_reader(org_id), UUID(definition_id))
        except NotFoundError:
            return None

    @activity.defn(name="sync_definition_schedule")
    async def sync_definition_schedule(self, sync: ScheduleSync) -> str:
        definition = await asyncio.to_thread(self._definition, sync.org_id, sync.definition_id)
        schedule_id = definition_schedule_id(sync.definition_id)
        handle = self._client.get_schedule_handle(schedule_id)
        trigger = definition.trigger if definition is not None else {}
        if definition is None or not definition.is_active or trigger.get("type") != "schedule":
            try:
                await handle.delete()
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                return "absent"
            log.info("schedule.deleted", schedule_id=schedule_id)
            return "deleted"
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                SCHEDULED_EXECUTION_WORKFLOW,
                ScheduledRun(org_id=sync.org_id, definition_id=sync.definition_id),
                id=f"scheduled-{sync.definition_id}",
                task_queue=self._task_queue,
            ),
            spec=ScheduleSpec(
                cron_expressions=[str(trigger["cron"])],
                time_zone_name=str(trigger.get("timezone") or "UTC"),
            ),
            # A run still going when the next is due: start the next anyway (each run is an
            # execution of its own), as a cron user would expect.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        )
        try:
            await self._client.create_schedule(schedule_id, schedule)
            log.info("schedule.created", schedule_id=schedule_id, cron=trigger["cron"])
            return "created"
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await handle.update(replace)
            log.info("schedule.updated", schedule_id=schedule_id, cron=trigger["cron"])
            return "updated"

    @activity.defn(name="scheduled_execution_input")
    def scheduled_execution_input(self, run: ScheduledRun) -> ExecutionInput | None:
        """The input of one scheduled run, or None when the definition stopped being a
        scheduled, active one since the schedule fired."""
        definition = self._definition(run.org_id, run.definition_id)
        if definition is None or not definition.is_active:
            return None
        if definition.trigger.get("type") != "schedule":
            return None
        body = definition.get_version(definition.current_version)
        return ExecutionInput(
            meta=CommandMeta(
                org_id=run.org_id, actor=f"schedule:{run.definition_id}", source="schedule"
            ),
            execution_id="",  # set by the workflow from its own (per-firing) id
            definition_id=run.definition_id,
            definition_version=definition.current_version,
            definition={k: body.get(k) for k in ("name", "description", "statuses", "steps")},
            trigger={"type": "schedule", "cron": definition.trigger.get("cron")},
        )
