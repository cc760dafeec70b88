"""Turns an activity's Temporal context into command metadata, and domain errors into failures.

Seed 003's "emitEvent" rule: events name the workflow and activity that caused them without
the caller passing those fields by hand. The command id is the workflow id plus the activity id,
both stable across retries, so a retried activity is recognised as the same command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from application.errors import NotFoundError
from application.metadata import CommandContext
from domain.errors import (
    DefinitionInvalidError,
    DomainError,
    InvalidTransitionError,
    InvalidValueError,
)
from worker.contracts import CommandFailure, CommandMeta


def command_context(meta: CommandMeta, suffix: str = "") -> CommandContext:
    info = activity.info()
    return keyed_context(meta, f"{info.activity_id}{suffix}")


def keyed_context(meta: CommandMeta, key: str) -> CommandContext:
    """A context whose command id is ``<workflow id>/<key>``, for callers that choose the key.

    The execution interpreter does: activity ids restart at 1 in every continue-as-new run, so
    they cannot tell a looping step's tenth visit from its first, but the workflow's own step
    counter can.
    """
    info = activity.info()
    return CommandContext(
        org_id=meta.org_id,
        command_id=f"{info.workflow_id}/{key}",
        actor=meta.actor,
        source=meta.source,
        correlation_id=meta.correlation_id,
        causation_id=meta.request_id,
        workflow_id=info.workflow_id,
        workflow_run_id=info.workflow_run_id,
        workflow_type=info.workflow_type,
        activity_id=info.activity_id,
    )


def _failure(kind: str, error: Exception, failure: CommandFailure) -> ApplicationError:
    return ApplicationError(failure.message, failure.model_dump(), type=kind, non_retryable=True)


@contextmanager
def reported_as_command_failures(meta: CommandMeta) -> Iterator[None]:
    """Bind log context, and raise refusals as non-retryable failures the caller can map.

    A refusal (not found, invalid value, invalid transition) will not change on retry, so
    retrying only delays the answer; anything else (a dropped connection, a lock timeout) is
    left to Temporal's retry policy.
    """
    info = activity.info()
    with structlog.contextvars.bound_contextvars(
        org_id=meta.org_id,
        workflow_id=info.workflow_id,
        correlation_id=meta.correlation_id,
        request_id=meta.request_id,
        activity=info.activity_type,
    ):
        try:
            yield
        except NotFoundError as e:
            raise _failure("NotFound", e, CommandFailure(message=e.message)) from None
        except DefinitionInvalidError as e:
            problems = [p.to_dict() for p in e.problems]
            raise _failure(
                "DefinitionInvalid", e, CommandFailure(message=e.message, problems=problems)
            ) from None
        except InvalidValueError as e:
            raise _failure(
                "InvalidValue", e, CommandFailure(message=e.message, field=e.field)
            ) from None
        except InvalidTransitionError as e:
            raise _failure("InvalidTransition", e, CommandFailure(message=e.message)) from None
        except DomainError as e:
            raise _failure("InvalidValue", e, CommandFailure(message=e.message)) from None
