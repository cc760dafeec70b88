from __future__ import annotations

import pytest

from domain.definition_library import LIBRARY, template_named
from domain.definition_validation import validate_definition


@pytest.mark.parametrize("template", LIBRARY, ids=lambda t: t.key)
def test_every_library_template_is_a_valid_definition(template: object) -> None:
    from domain.definition_library import DefinitionTemplate

    assert isinstance(template, DefinitionTemplate)
    assert validate_definition(template.body) == []


def test_instantiating_copies_the_body_and_can_rename_it() -> None:
    template = template_named("applicant_onboarding")
    assert template is not None
    body = template.instantiate(name="Summer interns")
    body["steps"].pop()

    assert body["name"] == "Summer interns"
    assert len(template.body["steps"]) == len(body["steps"]) + 1
    assert template_named("nope") is None


def test_the_library_keys_are_unique_and_cover_three_processes() -> None:
    keys = [t.key for t in LIBRARY]
    assert len(set(keys)) == len(keys) >= 3
