-- Which generation of a definition's derived webhook secret is current (1 until rotated).
-- The secret itself is never stored: the API derives it from WEBHOOK_SECRET_KEY and this number.
ALTER TABLE definitions
    ADD COLUMN webhook_secret_generation integer NOT NULL DEFAULT 1;
