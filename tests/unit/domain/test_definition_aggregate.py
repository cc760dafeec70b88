from __future__ import annotations

from uuid import uuid4

import pytest

from domain.definition import WorkflowDefinition
from domain.definition_model import Definition
from domain.errors import DefinitionInvalidError, InvalidValueError
from tests.unit.domain.support import at, onboarding_body, rebuilt


def new_definition() -> WorkflowDefinition:
    return WorkflowDefinition.create(
        definition_id=uuid4(), org_id="org_1", body=onboarding_body(), at=at()
    )


def test_creating_a_definition_publishes_version_one_inactive() -> None:
    definition = new_definition()
    assert definition.org_id == "org_1"
    assert definition.current_version == 1
    assert definition.is_active is False
    assert definition.name == "Applicant Onboarding"
    events = definition.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "VersionPublished"]
    assert all(e.timestamp == at() for e in events)


def test_the_published_event_carries_the_normalised_body_and_the_trigger_config() -> None:
    definition = new_definition()
    published = definition.collect_events()[1]
    assert isinstance(published, WorkflowDefinition.VersionPublished)
    assert published.version == 1
    assert published.trigger == onboarding_body()["steps"][0]["config"]
    assert [s["id"] for s in published.steps] == [s["id"] for s in onboarding_body()["steps"]]
    assert published.statuses[0] == {"id": "approved", "label": "Approved", "color": "green"}


def test_an_invalid_body_creates_nothing_and_lists_every_problem() -> None:
    body = onboarding_body()
    body["steps"][3]["config"]["default"] = "step_42"
    body["steps"][2]["config"]["task_from_step"] = "step_41"
    with pytest.raises(DefinitionInvalidError) as caught:
        WorkflowDefinition.create(definition_id=uuid4(), org_id="org_1", body=body, at=at())
    assert {p.field for p in caught.value.problems} == {
        "steps[3].config.default",
        "steps[2].config.task_from_step",
    }


def test_publishing_a_new_version_keeps_the_old_one_readable() -> None:
    definition = new_definition()
    body = onboarding_body()
    body["name"] = "Applicant Onboarding v2"
    body["steps"][1]["config"]["priority"] = "high"

    assert definition.publish_version(body=body, at=at(5)) == 2
    assert definition.current_version == 2
    assert definition.name == "Applicant Onboarding v2"
    assert definition.get_version(1)["steps"][1]["config"]["priority"] == "medium"
    assert definition.get_version(2)["steps"][1]["config"]["priority"] == "high"
    assert sorted(definition.versions) == [1, 2]


def test_an_invalid_new_version_is_refused_and_the_current_one_stays() -> None:
    definition = new_definition()
    with pytest.raises(DefinitionInvalidError):
        definition.publish_version(body={"name": "broken", "steps": []}, at=at(5))
    assert definition.current_version == 1


def test_asking_for_an_unknown_version_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_definition().get_version(7)
    assert caught.value.field == "version"
    assert "7" in caught.value.message


def test_activation_and_deactivation_are_idempotent() -> None:
    definition = new_definition()
    definition.collect_events()
    assert definition.activate(at=at(1)) is True
    assert definition.activate(at=at(2)) is False
    assert definition.is_active is True
    assert definition.deactivate(at=at(3)) is True
    assert definition.deactivate(at=at(4)) is False
    assert definition.is_active is False
    assert [type(e).__name__ for e in definition.collect_events()] == ["Activated", "Deactivated"]


def test_activation_records_the_version_that_was_current() -> None:
    definition = new_definition()
    definition.publish_version(body=onboarding_body(), at=at(1))
    definition.activate(at=at(2))
    activated = definition.collect_events()[-1]
    assert isinstance(activated, WorkflowDefinition.Activated)
    assert activated.version == 2


def test_the_parsed_definition_and_trigger_are_available_for_the_engine() -> None:
    definition = new_definition()
    parsed = definition.definition()
    assert isinstance(parsed, Definition)
    assert parsed.step("step_4").type == "condition"
    assert definition.definition(1) == parsed
    assert definition.trigger["type"] == "form_submission"


def test_changing_a_returned_version_does_not_change_the_definition() -> None:
    definition = new_definition()
    definition.get_version(1)["steps"].clear()
    definition.versions[1]["name"] = "hacked"
    assert len(definition.get_version(1)["steps"]) == 8
    assert definition.name == "Applicant Onboarding"


def test_a_definition_rebuilt_from_json_events_is_identical() -> None:
    definition = new_definition()
    definition.publish_version(body=onboarding_body(), at=at(1))
    definition.activate(at=at(2))
    definition.deactivate(at=at(3))
    copy = rebuilt(definition)
    assert copy == definition
    assert copy.versions == definition.versions
    assert copy.is_active is False
    assert copy.current_version == 2


def test_rotating_the_webhook_secret_records_only_a_new_generation() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from domain.definition import WorkflowDefinition

    at = datetime(2026, 11, 1, tzinfo=UTC)
    body = {
        "name": "Hook",
        "steps": [{"id": "s1", "type": "trigger", "name": "t", "config": {"type": "webhook"}}],
    }
    definition = WorkflowDefinition.create(definition_id=uuid4(), org_id="o", body=body, at=at)
    assert definition.webhook_secret_generation == 1

    assert definition.rotate_webhook_secret(at=at) == 2
    assert definition.rotate_webhook_secret(at=at) == 3

    rotations = [
        e for e in definition.collect_events() if type(e).__name__ == "WebhookSecretRotated"
    ]
    assert [vars(e)["generation"] for e in rotations] == [2, 3]
    assert all(
        set(vars(e)) == {"originator_id", "originator_version", "timestamp", "generation"}
        for e in rotations
    )
