-- Keys of the Temporal payload codec (docs/auditing.md "Temporal's history"): what the product
-- hands Temporal (workflow inputs, results, signals, activity inputs and results, memos) is
-- AES-256-GCM encrypted before it leaves the process, so Temporal's database holds no
-- plaintext. Each workflow that can carry a person's data (ids `execution-…`, `contact-…`,
-- `task-…`) has a random key of its own; every other workflow shares one random key. Keys are
-- stored only wrapped (AES-256-GCM under a key derived from BYTEDASH_MASTER_KEY, the key id as
-- associated data), so `bytedash keys rotate` re-wraps them without touching Temporal.
--
-- Erasing a contact destroys the keys of its workflows: the row stays (so a reader can say
-- "erased on …, because …" instead of "unknown key"), the key material goes.

CREATE TABLE temporal_payload_keys (
    -- The id every encrypted payload names in its metadata (`bytedash-key`).
    key_id        text        PRIMARY KEY,
    -- The workflow whose payloads the key seals; NULL for the shared key.
    workflow_id   text,
    -- nonce || AES-256-GCM(key) under the master-derived wrapping key; NULL once destroyed.
    wrapped_key   bytea,
    -- Fingerprint of the master key that wrapped it (key rotation re-wraps row by row).
    master_key_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,
    -- Why it was destroyed, e.g. "contact <id> erased: <reason>".
    destroyed_reason text,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

-- One live key per workflow; a workflow id met again after its key was destroyed gets a new one.
CREATE UNIQUE INDEX temporal_payload_keys_live_workflow
    ON temporal_payload_keys (workflow_id) WHERE wrapped_key IS NOT NULL;
-- One shared key (workflow_id NULL) at a time.
CREATE UNIQUE INDEX temporal_payload_keys_one_shared
    ON temporal_payload_keys ((true)) WHERE workflow_id IS NULL;
CREATE INDEX temporal_payload_keys_master ON temporal_payload_keys (master_key_id);

COMMENT ON TABLE temporal_payload_keys IS
    'Keys of the Temporal payload codec, wrapped by the master key; destroyed on erasure (docs/auditing.md).';
