"""Carries out rebuilds, and retries and skips of parked events, that admins request over HTTP.

``POST /admin/projections/{name}/rebuild`` may not write the database itself (the HTTP layer
never does: docs/architecture.md), so it records an ``AdminAction`` (action ``rebuild``)
through Temporal, and this follower, run by the projector process beside the read models,
sees that event in the store and runs the rebuild on a thread of its own so the live
projections keep flowing.
A rebuild that a crash interrupts shows as interrupted in status; requesting it again resumes it.
A retry (``retry_parked``) or skip (``skip_parked``) of a parked event runs on the same thread,
after any rebuild asked for before it; its outcome shows in the parked list (retried, skipped,
or still parked with the new error).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from psycopg import Connection

from projections.admin import AdminError, rebuild_projection, retry_parked, skip_parked
from projections.base import Projection
from projections.events import RecordedEvent
from projections.tables import TableNames

log = structlog.get_logger(__name__)

NAME = "admin_requests"
# Set by the API on the actions it hands to the projector. The CLI records its own actions and
# carries them out itself, so the projector must leave those alone.
EXECUTOR = "projector"
CARRIED_OUT = ("rebuild", "retry_parked", "skip_parked")


def wants_projector(data: dict[str, Any]) -> bool:
    parameters = data.get("parameters") or {}
    return data.get("action") in CARRIED_OUT and parameters.get("executor") == EXECUTOR


class AdminRequestFollower(Projection):
    def __init__(self, database_url: str) -> None:
        self.name = NAME
        self.event_types = frozenset({"AdminAction.Performed"})
        self.tables = TableNames({})
        self._url = database_url
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admin-rebuild")

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if not wants_projector(event.data):
                continue
            target = str(event.data.get("target"))
            action = str(event.data.get("action"))
            if action == "rebuild":
                self._pool.submit(self._rebuild, target, event.actor, event.position)
            else:
                parameters = dict(event.data.get("parameters") or {})
                self._pool.submit(self._parked, action, target, parameters, event.actor)

    def _rebuild(self, name: str, actor: str | None, position: int) -> None:
        try:
            report = rebuild_projection(self._url, name, requested_by=actor)
            log.info("admin.rebuild_done", projection=name, position=report.position)
        except (AdminError, LookupError, ValueError) as e:
            log.error("admin.rebuild_refused", projection=name, error=str(e), request=position)
        except Exception:
            log.exception("admin.rebuild_failed", projection=name, request=position)

    def _parked(
        self, action: str, name: str, parameters: dict[str, Any], actor: str | None
    ) -> None:
        position = parameters.get("position")
        try:
            if not isinstance(position, int):
                raise ValueError(f"the request names no position: {position!r}")
            if action == "retry_parked":
                report = retry_parked(self._url, name, position, actor=actor)
                log.info("admin.retry_done", projection=name, position=position, ok=report.ok)
            else:
                reason = str(parameters.get("reason") or "")
                skip_parked(self._url, name, position, reason, actor or "unknown")
                log.info("admin.skip_done", projection=name, position=position)
        except (AdminError, LookupError, ValueError) as e:
            log.error("admin.parked_refused", action=action, projection=name, error=str(e))
        except Exception:
            log.exception("admin.parked_failed", action=action, projection=name)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
