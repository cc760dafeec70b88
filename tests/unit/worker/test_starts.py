"""Execution ids derived from where a start came from: a repeat of the same start must name the
same execution forever, so these ids are the ones handed out before the derivations met in
`worker.starts` (a changed namespace or format would start a redelivered webhook twice)."""

from __future__ import annotations

import uuid

import pytest

from worker.contracts import CommandMeta
from worker.starts import Origin, execution_input


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (Origin("api", scope="org_a", key="key-1"), "f6a0785f-fbab-5ab7-a159-e101bea7a696"),
        (
            Origin("webhook", scope="def-1", key="delivery-1"),
            "3b724767-5ca3-561c-b939-a72ca4b8b177",
        ),
        (Origin("trigger", scope="def-1", key="42"), "fe308158-1a07-5d8d-9214-bcec30440f97"),
        (
            Origin("schedule", key="scheduled-def-1-2026-12-07T09:00:00Z"),
            "f6e9ad26-f4b6-5d94-bea3-e4b83e801bdb",
        ),
    ],
)
def test_a_repeated_start_names_the_execution_the_first_one_named(
    origin: Origin, expected: str
) -> None:
    assert origin.once
    assert origin.execution_id() == expected
    assert origin.execution_id() == expected


def test_the_same_key_from_another_org_or_definition_is_another_execution() -> None:
    ours = Origin("api", scope="org_a", key="key-1").execution_id()
    theirs = Origin("api", scope="org_b", key="key-1").execution_id()
    webhook = Origin("webhook", scope="org_a", key="key-1").execution_id()
    assert len({ours, theirs, webhook}) == 3


def test_a_start_without_a_key_is_a_new_execution_each_time() -> None:
    origin = Origin("api", scope="org_a")
    assert not origin.once
    first, second = origin.execution_id(), origin.execution_id()
    assert first != second
    assert uuid.UUID(first).version == 4


def test_every_origin_keeps_the_same_four_parts_of_its_definitions_version() -> None:
    row = {
        "id": "def-1",
        "name": "Onboarding",
        "description": None,
        "steps": [{"id": "s1", "type": "trigger"}],
        "is_active": True,  # a read-model column, not part of the version
    }
    execution = execution_input(
        meta=CommandMeta(org_id="org_a"),
        execution_id="e-1",
        definition_id="def-1",
        definition_version=3,
        definition=row,
        trigger={"type": "manual"},
    )
    assert execution.definition == {
        "name": "Onboarding",
        "description": None,
        "statuses": [],
        "steps": [{"id": "s1", "type": "trigger"}],
    }
    assert (execution.input, execution.payload, execution.contact) == ({}, {}, None)
