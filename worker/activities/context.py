"""Turns an activity's Temporal context into command metadata.

Events name the workflow and activity that caused them without the caller passing those
fields by hand. The command id is the workflow id plus the activity id,
both stable across retries, so a retried activity is recognised as the same command.
"""

from __future__ import annotations

from temporalio import activity

from application.metadata import CommandContext
from worker.contracts import CommandMeta


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
