"""Application services: one method per command, each stamping event metadata and idempotent."""
