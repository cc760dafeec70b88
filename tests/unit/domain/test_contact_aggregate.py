from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.errors import InvalidTransitionError, InvalidValueError
from tests.unit.domain.support import at, rebuilt


def new_contact(**overrides: Any) -> Contact:
    arguments: dict[str, Any] = {
        "contact_id": uuid4(),
        "org_id": "org_1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": None,
        "fields": {"source": "web", "score": 7},
        "at": at(),
    }
    arguments.update(overrides)
    return Contact.create(**arguments)


def test_a_new_contact_is_active_and_holds_what_it_was_given() -> None:
    contact = new_contact()
    assert contact.org_id == "org_1"
    assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")
    assert contact.email == "ada@example.com"
    assert contact.status == "active"
    assert contact.fields == {"source": "web", "score": 7}
    assert contact.archived is False
    (created,) = contact.collect_events()
    assert isinstance(created, Contact.Created)
    assert created.org_id == "org_1"
    assert created.timestamp == at()


@pytest.mark.parametrize(
    "names",
    [
        {"first_name": "Ada", "last_name": None, "email": None},
        {"first_name": None, "last_name": "Lovelace", "email": None},
        {"first_name": None, "last_name": None, "email": "ada@example.com"},
    ],
)
def test_one_of_first_name_last_name_or_email_is_enough(names: dict[str, Any]) -> None:
    new_contact(**names)


def test_a_contact_without_name_or_email_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_contact(first_name="  ", last_name=None, email=None)
    assert "first name" in caught.value.message


@pytest.mark.parametrize("email", ["ada", "@example.com", "ada@", "a@b@c", "ada @example.com"])
def test_a_malformed_email_is_refused(email: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_contact(email=email)
    assert caught.value.field == "email"
    assert email in caught.value.message


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_contact(at=at().replace(tzinfo=None))
    assert caught.value.field == "at"


def test_fields_must_be_json() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_contact(fields={"when": at()})
    assert caught.value.field == "fields.when"


def test_an_update_records_old_and_new_values_of_only_what_changed() -> None:
    contact = new_contact()
    contact.collect_events()
    changed = contact.update(
        changes={"first_name": "Augusta", "last_name": "Lovelace", "phone": "+44 1"}, at=at(1)
    )
    assert changed is True
    (event,) = contact.collect_events()
    assert isinstance(event, Contact.FieldsUpdated)
    assert event.changes == {
        "first_name": {"old": "Ada", "new": "Augusta"},
        "phone": {"old": None, "new": "+44 1"},
    }
    assert contact.first_name == "Augusta"
    assert contact.phone == "+44 1"


def test_custom_fields_merge_key_by_key_and_none_removes_a_key() -> None:
    contact = new_contact()
    contact.collect_events()
    contact.update(changes={"fields": {"score": 9, "source": None, "team": "blue"}}, at=at(1))
    assert contact.fields == {"score": 9, "team": "blue"}
    (event,) = contact.collect_events()
    assert isinstance(event, Contact.FieldsUpdated)
    assert event.changes == {
        "fields": {
            "old": {"source": "web", "score": 7},
            "new": {"score": 9, "team": "blue"},
        }
    }


def test_an_update_that_changes_nothing_emits_nothing() -> None:
    contact = new_contact()
    contact.collect_events()
    assert contact.update(changes={"first_name": "Ada", "fields": {"score": 7}}, at=at(1)) is False
    assert contact.update(changes={}, at=at(1)) is False
    assert contact.collect_events() == []


def test_updating_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidValueError) as caught:
        new_contact().update(changes={"status": "lead"}, at=at(1))
    assert caught.value.field == "status"


def test_an_update_cannot_remove_the_last_way_to_identify_the_contact() -> None:
    contact = new_contact(last_name=None, email=None)
    with pytest.raises(InvalidValueError):
        contact.update(changes={"first_name": None}, at=at(1))
    assert contact.first_name == "Ada"


def test_an_update_validates_email_and_fields() -> None:
    contact = new_contact()
    with pytest.raises(InvalidValueError):
        contact.update(changes={"email": "nope"}, at=at(1))
    with pytest.raises(InvalidValueError):
        contact.update(changes={"fields": ["not", "an", "object"]}, at=at(1))


def test_changing_status_emits_old_and_new_or_nothing_when_unchanged() -> None:
    contact = new_contact()
    contact.collect_events()
    assert contact.change_status(status="lead", at=at(1)) is True
    assert contact.change_status(status="lead", at=at(2)) is False
    (event,) = contact.collect_events()
    assert isinstance(event, Contact.StatusChanged)
    assert (event.old_status, event.new_status) == ("active", "lead")
    assert contact.status == "lead"


def test_an_archived_contact_refuses_every_command() -> None:
    contact = new_contact()
    contact.archive(reason="duplicate", at=at(1))
    assert contact.archived is True
    assert contact.archive_reason == "duplicate"
    with pytest.raises(InvalidTransitionError) as caught:
        contact.update(changes={"first_name": "X"}, at=at(2))
    assert "is archived" in caught.value.message
    assert str(contact.id) in caught.value.message
    with pytest.raises(InvalidTransitionError):
        contact.change_status(status="lead", at=at(2))
    with pytest.raises(InvalidTransitionError):
        contact.archive(reason=None, at=at(2))


def test_the_fields_property_cannot_change_the_contact() -> None:
    contact = new_contact()
    contact.fields["score"] = 100
    assert contact.fields["score"] == 7


def test_a_caller_changing_its_dict_later_cannot_change_the_recorded_event() -> None:
    given = {"nested": {"a": 1}}
    contact = new_contact(fields=given)
    given["nested"]["a"] = 2
    (created,) = contact.collect_events()
    assert isinstance(created, Contact.Created)
    assert created.fields == {"nested": {"a": 1}}
    assert contact.fields == {"nested": {"a": 1}}


def test_a_contact_rebuilt_from_json_events_is_identical() -> None:
    contact = new_contact()
    contact.update(changes={"fields": {"nested": {"list": [1, 2]}}, "email": "a@b.c"}, at=at(1))
    contact.change_status(status="lead", at=at(2))
    contact.archive(reason="left", at=at(3))
    copy = rebuilt(contact)
    assert copy == contact
    assert copy.fields == contact.fields
    assert copy.archived is True
    with pytest.raises(InvalidTransitionError):
        copy.change_status(status="active", at=at(4))
