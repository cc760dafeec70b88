"""Errors the read side raises on purpose, so callers can tell bad input from broken state."""

from __future__ import annotations


class InvalidCursorError(ValueError):
    """A list cursor that this code did not produce (or that was altered): bad input, a 422."""


class ProjectionError(RuntimeError):
    """An event could not be projected; the batch is rolled back and retried, never skipped."""


class UnexpectedEventError(ProjectionError):
    """An event arrived for a row that cannot take it (say, an update before any creation)."""


class LockNotAcquiredError(TimeoutError):
    """Another projector instance kept a projection's advisory lock for longer than allowed."""
