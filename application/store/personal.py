"""Where personal data is sealed on its way into the store: the services' event store.

Every service saves through ``PersonalEventStore.put`` (Service.construct_event_store), which
knows what the library's mapper does not: the org of the save (its metadata) and, for each
aggregate, the contact its events' personal data belongs to (``personal_owner``, passed down by
``Service.save``). For each event whose class declares ``personal_data`` and whose aggregate has
a contact, those attributes leave the event's JSON and go, AES-256-GCM sealed under the
contact's data key, into its ``_personal`` envelope (domain/personal.py). The keys of every
contact of the save come from one ``ContactKeys.keys_for`` call (cached, one statement on a
miss), except a contact created in this very save: its key is made here and stored by the
append's own statement (``events_append_rows``, migration 0015), so a new contact's first
command is one round trip and one commit. A contact already erased gets only the erased shape of
the data: nothing readable is written for it again.

Reading back is the mapper's (``domain.codec.EventMapper`` with an ``Unwrapper``): the recorder
reads each event's contact key row in the same query (application/store/recorder.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    EventStore,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
)
from eventsourcing.utils import get_topic

from application.metadata import EventMetadata
from application.privacy.keys import ContactKeys
from application.store.recorder import KeyExistsError
from domain.personal import (
    ENVELOPE,
    NONCE_BYTES,
    envelope,
    event_aad,
    personal_attributes,
    seal,
    split,
)

# Save() passes the contacts of its aggregates down to put() under this keyword.
OWNERS = "personal_owners"


class PersonalEventStore(EventStore[UUID]):
    """The library's event store, sealing each event's personal data with its contact's key.

    `sealing=False` writes personal data in clear (the baseline `bench.store` measures
    against; never a deployment's setting).
    """

    def __init__(
        self,
        mapper: Mapper[UUID],
        recorder: Any,
        keys: ContactKeys,
        *,
        sealing: bool = True,
    ) -> None:
        super().__init__(mapper, recorder)
        self.keys = keys
        self.sealing = sealing

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        owners: Mapping[UUID, UUID] = kwargs.pop(OWNERS, None) or {}
        metadata = kwargs.get("metadata")
        personal = [
            event
            for event in domain_events
            if self.sealing and event.originator_id in owners and personal_attributes(type(event))
        ]
        if not personal or not isinstance(metadata, EventMetadata):
            return super().put(domain_events, **kwargs)
        org_id = metadata.context.org_id
        contacts = {owners[event.originator_id] for event in personal}
        # A contact whose creation is in this save has no key yet: it is made here and stored
        # by the append itself (one statement, migration 0015) instead of a lookup first.
        fresh = {
            event.originator_id
            for event in domain_events
            if event.originator_id in contacts
            and event.originator_version == 1
            and not self.keys.cached(event.originator_id)
        }
        keys: dict[UUID, bytes | None] = dict(self.keys.keys_for(org_id, contacts - fresh))
        made, new_keys = self.keys.make(org_id, fresh)
        keys.update(made)
        stored_events = self._stored(domain_events, personal, owners, keys, org_id)
        try:
            positions = self.recorder.insert_events(stored_events, new_keys=new_keys, **kwargs)
        except KeyExistsError:
            # A key was stored for one of them meanwhile (a concurrent or earlier run of the
            # same command): seal again with the stored one.
            keys.update(self.keys.keys_for(org_id, fresh))
            stored_events = self._stored(domain_events, personal, owners, keys, org_id)
            positions = self.recorder.insert_events(stored_events, **kwargs)
        else:
            self.keys.remember(org_id, made)
        return [
            Recording(
                domain_event,
                Notification(
                    originator_id=stored.originator_id,
                    originator_version=stored.originator_version,
                    topic=stored.topic,
                    state=stored.state,
                    id=position,
                ),
            )
            for domain_event, stored, position in zip(
                domain_events, stored_events, positions or [], strict=False
            )
        ]

    def _stored(
        self,
        domain_events: Sequence[DomainEventProtocol[UUID]],
        personal: list[DomainEventProtocol[UUID]],
        owners: Mapping[UUID, UUID],
        keys: Mapping[UUID, bytes | None],
        org_id: str,
    ) -> list[StoredEvent]:
        sealed_ids = {id(event) for event in personal}
        return [
            self._sealed(event, owners[event.originator_id], keys, org_id)
            if id(event) in sealed_ids
            else self.mapper.to_stored_event(event)
            for event in domain_events
        ]

    def _sealed(
        self,
        event: DomainEventProtocol[UUID],
        contact_id: UUID,
        keys: Mapping[UUID, bytes | None],
        org_id: str,
    ) -> StoredEvent:
        state = dict(vars(event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        personal = split(type(event), state)
        if personal:
            key = keys.get(contact_id)
            sealed = None
            if key is not None:
                plain = self.mapper.transcoder.encode(personal)
                aad = event_aad(org_id, contact_id, originator_id, originator_version)
                sealed = seal(key, os.urandom(NONCE_BYTES), plain, aad)
            state[ENVELOPE] = envelope(contact_id, personal, sealed)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(event)),
            state=self.mapper.transcoder.encode(state),
        )
