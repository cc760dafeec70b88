"""Carries out rebuilds that admins request over HTTP.

``POST /admin/projections/{name}/rebuild`` may not write the database itself (the HTTP layer
never does: docs/architecture.md), so it records an ``AdminAction`` (action ``rebuild``)
through Temporal, and this follower, run by the projector process beside the read models,
sees that event in the store and runs the rebuild on a thread of its own so the live
projections keep flowing.
A rebuild that a crash interrupts shows as interrupted in status; requesting it again resumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from psycopg import Connection

from projections.admin import AdminError, rebuild_projection
from projections.base import Projection
from projections.events import RecordedEvent
from projections.tables import TableNames

log = structlog.get_logger(__name__)

NAME = "admin_requests"
# Set by the API on the actions it hands to the projector. The CLI records its own actions and
# carries them out itself, so the projector must leave those alone.
EXECUTOR = "projector"


def wants_projector(data: dict[str, Any]) -> bool:
    parameters = data.get("parameters") or {}
    return data.get("action") == "rebuild" and parameters.get("executor") == EXECUTOR


class AdminRequestFollower(Projection):
    def __init__(self, database_url: str) -> None:
        self.name = NAME
        self.event_types = frozenset({"AdminAction.Performed"})
        self.tables = TableNames({})
        self._url = database_url
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admin-rebuild")

    def apply_batch(self, conn: Connection[Any], events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if wants_projector(event.data):
                self._pool.submit(
                    self._rebuild, str(event.data.get("target")), event.actor, event.position
                )

    def _rebuild(self, name: str, actor: str | None, position: int) -> None:
        try:
            report = rebuild_projection(self._url, name, requested_by=actor)
            log.info("admin.rebuild_done", projection=name, position=report.position)
        except (AdminError, LookupError, ValueError) as e:
            log.error("admin.rebuild_refused", projection=name, error=str(e), request=position)
        except Exception:
            log.exception("admin.rebuild_failed", projection=name, request=position)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
