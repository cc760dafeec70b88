-- Contacts' data keys (crypto-shredding, docs/event-store.md "Personal data"): every event
-- attribute that carries a person's data is stored AES-256-GCM encrypted under a random 32-byte
-- key of the contact it belongs to. The key lives only here, wrapped (AES-256-GCM) under a key
-- derived (HKDF-SHA256) from BYTEDASH_MASTER_KEY, with "<org>\x1f<contact id>" as associated
-- data; never in an event.
--
-- Erasing the contact sets wrapped_key to NULL: from then on the ciphertext in the immutable
-- events is noise, the hash chain over it still verifies, and every reader shows the erased
-- marker. The row stays, so readers (and writers of later events) know the contact was erased,
-- by whom, when and why, and no key is ever made again for it.

CREATE TABLE contact_keys (
    org_id        text        NOT NULL,
    contact_id    uuid        PRIMARY KEY,
    -- nonce || AES-256-GCM(key) under the master-derived wrapping key; NULL once erased.
    wrapped_key   bytea,
    -- Fingerprint of the master key that wrapped it (application/secrets.py master_key_id).
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz,
    erased_by     text,
    erase_reason  text,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

CREATE INDEX contact_keys_org ON contact_keys (org_id);
CREATE INDEX contact_keys_master ON contact_keys (master_key_id);

COMMENT ON TABLE contact_keys IS
    'Per-contact data keys of personal data in events, wrapped by the master key; NULL once erased.';

-- The events that carry a contact's personal data (their envelope names the contact): what the
-- read models rewrite when the contact is erased (projections/rows.py).
CREATE INDEX events_personal_contact_idx ON events ((data->'_personal'->>'contact'), position)
    WHERE data ? '_personal';
