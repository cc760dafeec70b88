"""Reading ahead (projections/prefetch.py) hands a batch exactly the events it would have read."""

from __future__ import annotations

import psycopg

from projections.contacts import contacts_projection
from projections.events import read_events, use_fast_json
from projections.executions import executions_projection
from projections.prefetch import Prefetcher
from tests.integration.projections.eventlog import append_synthetic
from tests.integration.projections.support import head


def test_reads_ahead_return_what_each_request_would_have_read(database_url: str) -> None:
    append_synthetic(database_url, 300)  # 3,000 events: per unit 3 contact, 5 execution ones
    top = head(database_url)
    contacts = contacts_projection().event_types
    executions = executions_projection().event_types
    with psycopg.connect(database_url, autocommit=True) as conn:
        use_fast_json(conn)
        prefetcher = Prefetcher(database_url)
        try:
            # Full batches in one window, two projections interleaved, the window's end
            # reached (a top-up read past the old bound), then a request nobody foresaw.
            requests = [
                (0, 1000, contacts, 100),
                (0, 1000, executions, 100),
                (None, 1000, contacts, 100),
                (None, 1000, executions, 100),
                (None, 1000, contacts, 100),
                (None, 1000, contacts, 100),
                (None, 2000, contacts, 100),
                (None, 2000, executions, 50),
                (1500, top, contacts, 100),
            ]
            last: dict[frozenset[str], int] = {}
            for after, upto, types, limit in requests:
                start = last.get(types, 0) if after is None else after
                got = prefetcher.read(conn, after=start, upto=upto, event_types=types, limit=limit)
                expected = read_events(conn, after=start, upto=upto, event_types=types, limit=limit)
                assert got == expected
                last[types] = got[-1].position if len(got) == limit else upto
            assert prefetcher.hits >= 4
            assert prefetcher.misses >= 3
        finally:
            prefetcher.close()
