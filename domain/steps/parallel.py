"""`parallel`: branches of steps that run at the same time and join.

`{"join": "all" | "any", "branches": [{"name": "legal", "steps": [...]}, ...]}`. Each branch
is a sequence of steps (ids unique in the whole definition) run in list order; `join: all`
(the default) waits for every branch, `any` for the first to finish, and cancels the others
(their open steps and tasks, recorded). A branch that fails fails the parallel step.

This module checks the shape of `join` and `branches`; the steps inside the branches are
checked by the definition's validation as steps of their own (definition_validation.py),
since what they may read and where they may jump depends on the whole definition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from domain.steps.base import StepConfig, StepType
from domain.steps.checks import StepConfigChecker, shown

JOINS = ("all", "any")
MAX_BRANCHES = 10
BRANCH_KEYS = ("name", "steps")
BRANCH_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ParallelConfig(StepConfig):
    join: Literal["all", "any"] = "all"
    # The branches as the definition holds them (their steps render when they run).
    branches: list[dict[str, Any]]


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    join = config.get("join", "all")
    if join not in JOINS:
        c.add("join", f"'join' must be 'all' or 'any', not {shown(join)}.")
    branches = config.get("branches")
    if not isinstance(branches, list) or not 2 <= len(branches) <= MAX_BRANCHES:
        c.add(
            "branches",
            f"A parallel step needs 'branches': a list of 2 to {MAX_BRANCHES} objects "
            f'{{"name": ..., "steps": [...]}}, not {shown(branches)}.',
        )
        return
    names: set[str] = set()
    for index, branch in enumerate(branches):
        where = f"branches[{index}]"
        if not isinstance(branch, Mapping):
            c.add(where, f"Each branch must be an object with name and steps, not {shown(branch)}.")
            continue
        for key in branch:
            if key not in BRANCH_KEYS:
                c.add(
                    f"{where}.{key}",
                    f"Unknown key {str(key)!r}; a branch has only {', '.join(BRANCH_KEYS)}.",
                )
        name = branch.get("name")
        if not isinstance(name, str) or not BRANCH_NAME.fullmatch(name):
            c.add(
                f"{where}.name",
                f"A branch needs a 'name' made of letters, digits, '_' or '-', not {shown(name)}.",
            )
        elif name in names:
            c.add(f"{where}.name", f"The branch name {name!r} is used more than once.")
        else:
            names.add(name)
        steps = branch.get("steps")
        if not isinstance(steps, list) or not steps:
            c.add(
                f"{where}.steps", f"A branch needs 'steps': a non-empty list, not {shown(steps)}."
            )


TYPE = StepType("parallel", ParallelConfig, check, nested=("branches",))
