"""Turns an activity's Temporal context into command metadata.

Seed 003's "emitEvent" rule: events name the workflow and activity that caused them without
the caller passing those fields by hand. The command id is the workflow id plus the activity id,
both stable across retries, so a retried activity is recognised as the same command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from temporalio import activity

from application.metadata import CommandContext
from worker.contracts import CommandMeta
from worker.interceptors import refusal


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


@contextmanager
def reported_as_command_failures(meta: CommandMeta) -> Iterator[None]:
    """What ``worker.interceptors.ActivityContextInterceptor`` does for every activity, for code
    that still wraps itself: the interceptor makes this redundant on any worker built by
    ``worker.main.build_worker``."""
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
        except Exception as error:
            failure = refusal(error)
            if failure is None:
                raise
            raise failure from None
