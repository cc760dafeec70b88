"""`complete_task`: marks the task of an earlier assign_task step done, with `outcome` and
`metadata` merged into its metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.steps.base import Field, Ident, Object, StepConfig, StepType
from domain.steps.checks import StepConfigChecker


class CompleteTaskConfig(StepConfig):
    task_from_step: Ident
    outcome: Any = None
    metadata: Object = Field(default_factory=dict)

    def task_metadata(self) -> dict[str, Any]:
        metadata = dict(self.metadata)
        if self.outcome is not None:
            metadata["outcome"] = self.outcome
        return metadata


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.task_reference(config, "task_from_step", required=True)
    c.text(config, "outcome", required=False)
    c.object_or_template(config, "metadata")


TYPE = StepType("complete_task", CompleteTaskConfig, check)
