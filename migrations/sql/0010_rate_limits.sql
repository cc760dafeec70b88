-- Rate limits of the API (interfaces/api/ratelimit.py): one token bucket per limited key
-- (`api:<org_id>`, `webhook:<definition_id>`), shared by every API process.
--
-- Operational state, like idempotency keys, not business state: nothing reads it but the
-- limiter. UNLOGGED because it changes on every lease and is worth no WAL (nor a replica):
-- after a crash Postgres empties it, and every bucket starts full again. The updated columns
-- are not indexed and the fill factor leaves room, so leases are HOT updates.
CREATE UNLOGGED TABLE rate_limits (
    key         text             PRIMARY KEY,
    -- Tokens left after the last lease (fractional: the bucket refills continuously).
    tokens      double precision NOT NULL,
    -- Whole tokens the last lease took (what RETURNING hands the leasing process).
    granted     integer          NOT NULL DEFAULT 0,
    updated_at  timestamptz      NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

COMMENT ON TABLE rate_limits IS
    'Token buckets of the API rate limits, leased in chunks by each API process (docs/operations.md).';
