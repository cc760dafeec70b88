"""Errors the application services raise, for callers to map (HTTP problems, Temporal failures).

Domain errors (``domain.errors``) pass through unchanged: they are already meaningful. These add
what only the application knows: a thing is missing, or belongs to someone else (same answer).
"""

from __future__ import annotations

from uuid import UUID


class ApplicationError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ApplicationError):
    """The aggregate does not exist *for this org*: another org's ids look exactly like this."""

    def __init__(self, kind: str, aggregate_id: UUID | str) -> None:
        super().__init__(f"{kind} {aggregate_id} was not found")
        self.kind = kind
        self.aggregate_id = str(aggregate_id)


class ConcurrencyError(ApplicationError):
    """Other writers kept changing the aggregate while this command retried; try again later."""
