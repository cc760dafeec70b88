-- Secrets per org (docs/operations.md "Secrets"): the values definitions reference as
-- {{secrets.NAME}}, encrypted with AES-256-GCM under a data key of the org, itself wrapped
-- (AES-256-GCM) by a key derived from BYTEDASH_MASTER_KEY.
--
-- Not in the event store on purpose: events are immutable and kept forever, and a credential
-- must be replaceable and removable. Only the fact of a change is an event (`Secret.ValueSet`,
-- `Secret.Deleted`: the name, who, when); these tables hold the key material and the current
-- ciphertext, written by the worker's secret service right after the event, and read by the
-- worker's outbound activities (values) and the API (names, who set them and when).

CREATE TABLE org_data_keys (
    org_id       text        PRIMARY KEY,
    -- The org's 32-byte data key, AES-256-GCM encrypted under the master-derived wrapping key
    -- (nonce || ciphertext || tag), with the org id as associated data.
    wrapped_key  bytea       NOT NULL,
    -- Fingerprint of the master key that wrapped it: a process started with another master
    -- key says so instead of failing to decrypt.
    master_key_id text       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secret_values (
    org_id       text        NOT NULL,
    name         text        NOT NULL,
    -- nonce || ciphertext || tag under the org's data key; associated data "<org>\x1f<name>",
    -- so a row copied under another name or org does not decrypt.
    ciphertext   bytea       NOT NULL,
    -- The version of the Secret aggregate whose ValueSet event this value belongs to: a
    -- retried or late write never replaces a newer value.
    revision     integer     NOT NULL,
    set_by       text,
    set_at       timestamptz NOT NULL,
    PRIMARY KEY (org_id, name)
);

COMMENT ON TABLE org_data_keys IS
    'Per-org data keys of the secret store, wrapped by the master key (docs/operations.md).';
COMMENT ON TABLE secret_values IS
    'Current encrypted value of each org secret; its changes are Secret events (docs/operations.md).';
