"""Ordered SQL migrations and the runner that applies them (`bytedash migrate`)."""

from migrations.runner import Migration, apply_migrations, discover_migrations

__all__ = ["Migration", "apply_migrations", "discover_migrations"]
