"""Following the store: projections with nothing of their own to apply sit rounds out (one query
per round decides), and what a reader or an admin sees must not change because of it."""

from __future__ import annotations

from typing import Any

import psycopg

from projections import Projector, default_projections
from projections.admin import reset_projection
from tests.integration.projections.eventlog import EventLog, append, append_synthetic
from tests.integration.projections.support import head, position_of, running, scalar, wait_until

Conn = psycopg.Connection[Any]


def test_a_projection_with_no_events_of_its_own_still_follows_the_head(
    database_url: str, log: EventLog
) -> None:
    with running(Projector(database_url, default_projections(), poll_interval=0.2)):
        wait_until(lambda: position_of(database_url, "definitions") is not None)
        for name in ("Ada", "Grace", "Katherine"):
            log.contact(first_name=name)
            append(database_url, log.take())
        wait_until(
            lambda: scalar(database_url, "SELECT count(*) FROM contacts") == 3, what="contacts"
        )
        # Only contact events: the definitions projection has nothing to apply, yet its
        # position (and so the lag an admin reads in the status) reaches the head.
        wait_until(
            lambda: position_of(database_url, "definitions") == head(database_url),
            timeout=5,
            what="the definitions position at the head",
        )


def test_a_reset_while_the_projector_idles_is_replayed_within_seconds(
    database_url: str,
) -> None:
    append_synthetic(database_url, 40)
    with running(Projector(database_url, default_projections(), poll_interval=0.2)):
        wait_until(lambda: position_of(database_url, "executions") == head(database_url))
        rows = scalar(database_url, "SELECT count(*) FROM executions")
        assert rows > 0

        reset_projection(database_url, "executions", 0, requested_by="user:admin")

        # No new event arrives to wake anyone: the projector must come back to the moved row.
        wait_until(
            lambda: (
                position_of(database_url, "executions") == head(database_url)
                and scalar(database_url, "SELECT count(*) FROM executions") == rows
            ),
            timeout=10,
            what="the reset projection replayed",
        )
