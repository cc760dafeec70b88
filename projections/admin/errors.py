"""Errors of the admin tooling, each meaning one thing a caller can act on.

The CLI prints them; the HTTP layer maps them: unknown projection 404, operation in progress
409, bad position 422, parked event not found 404.
"""

from __future__ import annotations


class AdminError(RuntimeError):
    """Base of the errors below."""


class UnknownProjectionError(AdminError, LookupError):
    """No projection of that name is served here."""


class OperationInProgressError(AdminError):
    """Another process is rebuilding (or resetting, or verifying) this projection right now."""


class InvalidPositionError(AdminError, ValueError):
    """A reset position below zero or beyond the store's head."""


class ParkedEventNotFoundError(AdminError, LookupError):
    """No parked event of that projection at that position (or it is no longer parked)."""


class RebuildFailedError(AdminError):
    """The swap could not happen (say, readers held the live tables each time it was tried)."""
