"""Activities behind `schedule` triggers: keeping a definition's Temporal Schedule in step with
it, and building the input of each scheduled execution.

Temporal Schedules rather than a cron loop of our own: they survive worker restarts, catch up
or skip missed runs by policy, show in the Temporal UI, and can be paused or triggered by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

from worker.contracts import (
    SCHEDULED_EXECUTION_WORKFLOW,
    CommandMeta,
    ExecutionInput,
    ScheduledRun,
    ScheduleSync,
    definition_schedule_id,
)
from worker.starts import Origin, execution_input, start_execution

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScheduledDefinition:
    """What a schedule needs of a definition as recorded now."""

    is_active: bool
    trigger: dict[str, Any]
    version: int
    body: dict[str, Any]  # the current version's


# (org id, definition id) -> the definition, or None when there is none: `CommandHandlers.
# find_definition`, injected so that workflow code may import this class, which then reaches
# neither `application` nor the event store's libraries.
FindDefinition = Callable[[str, str], ScheduledDefinition | None]


class ScheduleActivities:
    def __init__(self, find_definition: FindDefinition, client: Client, task_queue: str) -> None:
        self._definition = find_definition
        self._client = client
        self._task_queue = task_queue

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

    @activity.defn(name="start_scheduled_execution")
    async def start_scheduled_execution(self, run: ScheduledRun) -> str | None:
        """Start the execution of one firing; None when the definition stopped being a
        scheduled, active one since the schedule fired.

        The firing's own workflow id (the Schedule's action id plus the scheduled time) is the
        origin's key: a retried activity derives the same execution and starts nothing new.
        """
        firing = activity.info().workflow_id
        origin = Origin("schedule", key=firing)
        execution = await asyncio.to_thread(self._scheduled_input, run, origin.execution_id())
        if execution is None:
            return None
        started = await start_execution(self._client, self._task_queue, execution, origin)
        log.info(
            "schedule.fired",
            execution_id=started.execution_id,
            definition_id=run.definition_id,
            duplicate=started.duplicate,
        )
        return started.execution_id

    @activity.defn(name="scheduled_execution_input")
    def scheduled_execution_input(self, run: ScheduledRun) -> ExecutionInput | None:
        """The input of one scheduled run with an empty execution id, which the workflow sets;
        for firings whose workflow began before `start_scheduled_execution` existed."""
        return self._scheduled_input(run, "")

    def _scheduled_input(self, run: ScheduledRun, execution_id: str) -> ExecutionInput | None:
        definition = self._definition(run.org_id, run.definition_id)
        if definition is None or not definition.is_active:
            return None
        if definition.trigger.get("type") != "schedule":
            return None
        return execution_input(
            meta=CommandMeta(
                org_id=run.org_id, actor=f"schedule:{run.definition_id}", source="schedule"
            ),
            execution_id=execution_id,
            definition_id=run.definition_id,
            definition_version=definition.version,
            definition=definition.body,
            trigger={"type": "schedule", "cron": definition.trigger.get("cron")},
        )
