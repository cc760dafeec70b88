"""What a side's Postgres backends are doing during a phase, sampled every few milliseconds:
how many run a query, and what the waiting ones wait for (``Lock:relation`` is the event
store's EXCLUSIVE table lock, ``Lock:object`` the NOTIFY queue at commit, ``IO:WALSync`` a
commit's flush). It points at a lock or at the client side when a figure moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import psycopg

from bench.e2e.servers import BENCH_APPLICATION, bench_url


class BackendSampler:
    def __init__(self, database_url: str, interval: float = 0.02) -> None:
        self._url = bench_url(database_url)
        self._interval = interval
        self.samples = 0
        self.active = 0
        self.waits: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            while not stop.is_set():
                cursor = await conn.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name <> %s"
                    " AND state = 'active'",
                    (BENCH_APPLICATION,),
                )
                rows = await cursor.fetchall()
                self.samples += 1
                self.active += len(rows)
                for kind, event in rows:
                    if kind is not None and kind != "Client":
                        self.waits[f"{kind}:{event}"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)

    def mean_active(self) -> float:
        return self.active / self.samples if self.samples else 0.0

    def top_waits(self, n: int = 3) -> dict[str, float]:
        """Mean backends waiting, by wait event, the `n` most frequent."""
        if not self.samples:
            return {}
        return {name: count / self.samples for name, count in self.waits.most_common(n)}
