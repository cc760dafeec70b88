"""The privacy maintenance the `bytedash` CLI runs against the database (docs/operations.md):
master key rotation and the report of events recorded in clear before encryption. The CLI
(interfaces) reaches application code only through the worker package, like the worker process
itself."""

from __future__ import annotations

from application.privacy.legacy import ClearEvents, clear_events
from application.privacy.rotate import RotationError, TableRotation, rotate_master_key

__all__ = ["ClearEvents", "RotationError", "TableRotation", "clear_events", "rotate_master_key"]
