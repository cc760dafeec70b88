"""The answer of ``GET /definitions/{id}/stats`` (projections/queries/stats.py computes it).

Times are milliseconds, percentiles continuous (interpolated); a percentile over nothing is
null, and so is a success rate with no ended execution.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from interfaces.api.schemas.common import PublicModel


class Percentiles(PublicModel):
    count: int = Field(description="How many values the percentiles are taken over.")
    p50: float | None
    p95: float | None


class ExecutionSummary(PublicModel):
    total: int = Field(description="Executions created in the range.")
    by_status: dict[str, int] = Field(
        description="Executions by their status now (any status the engine records)."
    )
    ended: int = Field(description="Executions whose status is not an open one.")
    success_rate: float | None = Field(description="completed / ended, 0..1.")
    duration_ms: Percentiles = Field(description="Start to completion, completed executions.")


class VersionSummary(ExecutionSummary):
    version: int | None


class StepStats(PublicModel):
    step_id: str
    step_type: str | None
    step_name: str | None
    reached: int = Field(description="Executions that started this step at least once.")
    runs: int = Field(description="Times it started (a loop runs a step more than once).")
    by_outcome: dict[str, int] = Field(
        description="Runs by how they ended (completed, failed, …) or are (running, waiting)."
    )
    time_ms: Percentiles = Field(description="Time spent in the step, runs that ended.")
    wait_ms: Percentiles = Field(
        description="The human part: waiting for a task, a signal, a delay, runs that waited."
    )
    work_ms: Percentiles = Field(description="The machine part: time in the step minus the wait.")
    waiting_now: int = Field(description="Executions waiting in this step now.")


class WaitingNow(PublicModel):
    step_id: str | None
    waiting_for: str | None
    count: int
    oldest_since: datetime | None


class DefinitionStats(PublicModel):
    definition_id: str
    version: int | None
    since: datetime | None
    until: datetime | None
    executions: ExecutionSummary
    versions: list[VersionSummary]
    steps: list[StepStats]
    waiting_now: list[WaitingNow]
