"""The shape of a side's Temporal histories, read back from the server after a phase: events,
workflow tasks, regular activities and local-activity markers per execution, and the events of
the reviewer's command workflow. When a figure moves, this tells whether Temporal work moved
with it (a step recorded in fewer calls shows here as fewer markers)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass(frozen=True)
class HistoryShape:
    """Means over a few executions."""

    events: float
    workflow_tasks: float
    activities: float  # regular activities scheduled
    markers: float  # local activities recorded
    wft_ms: float  # workflow task started → completed (local activities run inside it)
    review_events: float  # the reviewer's command workflow

    def describe(self) -> str:
        return (
            f"{self.events:.0f} events, {self.workflow_tasks:.1f} workflow tasks (mean"
            f" {self.wft_ms:.0f} ms), {self.activities:.0f} activities, {self.markers:.0f}"
            f" local-activity markers; +{self.review_events:.0f} events for the task command"
        )


async def history_shape(
    address: str, executions: Sequence[str], reviews: Sequence[str]
) -> HistoryShape:
    client = await Client.connect(address)
    counts: Counter[str] = Counter()
    wft: list[float] = []
    for workflow_id in executions:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        started: float | None = None
        for event in history.events:
            kind = EventType.Name(event.event_type)
            counts["events"] += 1
            stamp = event.event_time.seconds + event.event_time.nanos / 1e9
            if kind == "EVENT_TYPE_WORKFLOW_TASK_STARTED":
                started = stamp
            elif kind == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED":
                counts["workflow_tasks"] += 1
                if started is not None:
                    wft.append(stamp - started)
            elif kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
                counts["activities"] += 1
            elif kind == "EVENT_TYPE_MARKER_RECORDED":
                counts["markers"] += 1
    for workflow_id in reviews:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts["review_events"] += len(history.events)
    n, r = max(1, len(executions)), max(1, len(reviews))
    return HistoryShape(
        events=counts["events"] / n,
        workflow_tasks=counts["workflow_tasks"] / n,
        activities=counts["activities"] / n,
        markers=counts["markers"] / n,
        wft_ms=statistics.fmean(wft) * 1000 if wft else 0.0,
        review_events=counts["review_events"] / r,
    )
