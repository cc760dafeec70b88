"""Contacts' data keys on real Postgres: made once, found in batches, destroyed for good."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from application.bundle import build_services
from application.metadata import CommandContext
from application.privacy.keys import ContactKeyError, ContactKeys
from application.services import ContactDraft
from application.services.base import derived_id
from application.store import EventStoreInfrastructure
from domain.execution import FAILED
from domain.personal import DEVELOPMENT_MASTER_KEY, ERASED
from domain.steps import StepRef
from tests.integration.audit.support import begin_form_execution


@pytest.fixture
def store(database_url: str) -> Iterator[EventStoreInfrastructure]:
    infrastructure = EventStoreInfrastructure(database_url)
    yield infrastructure
    infrastructure.close()


def test_a_key_is_made_once_and_read_back_by_another_process(
    store: EventStoreInfrastructure, database_url: str
) -> None:
    master = os.urandom(32)
    keys = ContactKeys(store.datastore, master)
    a, b = uuid.uuid4(), uuid.uuid4()
    first = keys.keys_for("acme", [a, b])
    assert all(key is not None and len(key) == 32 for key in first.values())
    assert first[a] != first[b]
    other = ContactKeys(store.datastore, master)  # another process: no cache
    assert other.key_for("acme", a, create=False) == first[a]
    assert other.key_for("acme", uuid.uuid4(), create=False) is None
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT wrapped_key, master_key_id FROM contact_keys WHERE contact_id = %s", (a,)
        ).fetchone()
    key_a = first[a]
    assert row is not None and key_a is not None and key_a not in bytes(row[0])
    # Another org cannot use the contact's key, and another master key cannot open it.
    with pytest.raises(ContactKeyError):
        other.key_for("globex", a)
    with pytest.raises(Exception, match="master key"):
        ContactKeys(store.datastore, os.urandom(32)).key_for("acme", a)


def test_a_destroyed_key_is_gone_everywhere_and_never_made_again(
    store: EventStoreInfrastructure,
) -> None:
    master = os.urandom(32)
    here = ContactKeys(store.datastore, master)
    there = ContactKeys(store.datastore, master, cache_seconds=0.0)
    contact = uuid.uuid4()
    assert here.key_for("acme", contact) is not None
    assert there.key_for("acme", contact) is not None
    at = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
    assert here.destroy("acme", contact, "user:alice", "asked by the person", at) is True
    assert here.destroy("acme", contact, "user:alice", "again", at) is False
    assert here.key_for("acme", contact) is None
    assert there.key_for("acme", contact) is None  # its cache had expired
    erasure = here.erasure(contact)
    assert erasure is not None and erasure.erased_by == "user:alice"
    assert erasure.reason == "asked by the person" and erasure.erased_at == at
    # A contact never seen before (its events in clear) is erased by a row of its own.
    unseen = uuid.uuid4()
    assert here.destroy("acme", unseen, "user:alice", "old contact", at) is True
    assert ContactKeys(store.datastore, master).key_for("acme", unseen) is None


def _ctx(command_id: str) -> CommandContext:
    return CommandContext(org_id="acme", command_id=command_id, actor="user:alice")


def _key_rows(database_url: str, contact_id: uuid.UUID) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM contact_keys WHERE contact_id = %s", (contact_id,)
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_a_new_contacts_key_is_stored_by_the_append_of_its_first_events(
    database_url: str,
) -> None:
    services = build_services(database_url, pool_size=1)
    try:
        contact_id = services.contacts.create_contact(
            _ctx("c-new"), ContactDraft(first_name="Ada", email="ada@example.com")
        )
        assert _key_rows(database_url, contact_id) == 1
        reader = build_services(database_url, pool_size=1)  # another process: nothing cached
        try:
            contact = reader.contacts.get_contact(_ctx("read"), contact_id)
        finally:
            reader.close()
        assert (contact.first_name, contact.email) == ("Ada", "ada@example.com")
    finally:
        services.close()


def test_a_key_stored_before_the_contacts_first_save_is_the_one_its_events_use(
    database_url: str,
) -> None:
    """A rerun of a create whose first run stored the key (or a concurrent first save): the
    append finds the key row, appends nothing, and the events are sealed again with it."""
    ctx = _ctx("c-rerun")
    contact_id = derived_id("contact", ctx)
    services = build_services(database_url, pool_size=1)
    try:
        stored = ContactKeys(services.store.datastore, DEVELOPMENT_MASTER_KEY).key_for(
            "acme", contact_id
        )
        assert services.contacts.create_contact(ctx, ContactDraft(first_name="Bo")) == contact_id
        assert _key_rows(database_url, contact_id) == 1
        assert services.store.contact_keys.key_for("acme", contact_id, create=False) == stored
        reader = build_services(database_url, pool_size=1)
        try:
            assert reader.contacts.get_contact(_ctx("read"), contact_id).first_name == "Bo"
        finally:
            reader.close()
    finally:
        services.close()


def test_a_contact_erased_before_its_first_save_gets_no_readable_data(
    database_url: str,
) -> None:
    ctx = _ctx("c-erased")
    contact_id = derived_id("contact", ctx)
    services = build_services(database_url, pool_size=1)
    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    try:
        ContactKeys(services.store.datastore, DEVELOPMENT_MASTER_KEY).destroy(
            "acme", contact_id, "user:alice", "asked before it existed", at
        )
        services.contacts.create_contact(ctx, ContactDraft(first_name="Cy"))
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT data::text FROM events WHERE originator_id = %s", (contact_id,)
            ).fetchall()
        assert rows and all("Cy" not in row[0] for row in rows)
        reader = build_services(database_url, pool_size=1)  # the aggregate read from the store
        try:
            assert reader.contacts.get_contact(_ctx("read"), contact_id).first_name == ERASED
        finally:
            reader.close()
    finally:
        services.close()


def test_an_executions_error_text_is_sealed_under_its_contacts_key(database_url: str) -> None:
    """A step's failure can quote a rendered value (an address, a URL with a name in it): the
    text is stored sealed, reads back opened, and reads as erased once the contact is."""
    services = build_services(database_url, pool_size=1)
    try:
        contact_id = services.contacts.create_contact(
            _ctx("c-err"), ContactDraft(first_name="Di", email="di@example.com")
        )
        execution_id = uuid.uuid4()
        begin_form_execution(services, _ctx("e-begin"), execution_id, contact_id, "def-err")
        error = "HTTP 404 from https://crm.example.com/people?email=di@example.com"
        services.executions.finish(
            _ctx("e-fail"),
            execution_id,
            FAILED,
            step=StepRef("step_2", "http_request", "Look up"),
            error=error,
        )
        with psycopg.connect(database_url) as conn:
            stored = conn.execute(
                "SELECT event_type, data::text FROM events WHERE originator_id = %s",
                (execution_id,),
            ).fetchall()
        failed = [text for event_type, text in stored if event_type.endswith(".Failed")]
        assert failed and all("di@example.com" not in text for _, text in stored)

        def read() -> str | None:
            reader = build_services(database_url, pool_size=1)
            try:
                return reader.executions.get_execution(_ctx("read"), execution_id).error
            finally:
                reader.close()

        assert read() == error
        at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
        services.store.contact_keys.destroy("acme", contact_id, "user:alice", "asked", at)
        assert read() == ERASED
    finally:
        services.close()
