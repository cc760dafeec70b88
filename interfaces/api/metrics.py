"""Prometheus metrics of one API instance: request latency, event store head, projection lag.

A registry per app (not the process-global default) so that every app the tests build starts
from zero and none of them collides with another's metric names. The store and projection
gauges are computed at scrape time from ``projection_status``: a scrape shows the truth of that
moment, and nothing polls the database between scrapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from projections.chain import seal_status
from projections.queries import projection_status

log = structlog.get_logger(__name__)

# Scrapes must stay quick even when the database is not: give up on a connection after this.
SCRAPE_DB_TIMEOUT = 2.0
# Latency buckets from 5 ms (a read served from the pool) to 30 s (the longest ?wait=true).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# Every status projections.queries.status gives a projection; each a series of its own, so that
# an alert can say `bytedash_projection_status{status="stopped"} == 1`.
PROJECTION_STATUSES = ("running", "parked", "error", "stopped", "rebuilding")


class ReadSideCollector(Collector):
    """Event store head and each projection's position and lag, read when scraped."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def describe(self) -> Iterable[Metric]:
        # No description up front: otherwise registering would run a database query.
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "bytedash_read_side_up", "1 when the last scrape could read the event store"
        )
        try:
            with self._pool.connection(timeout=SCRAPE_DB_TIMEOUT) as conn:
                head_row = conn.execute(
                    "SELECT coalesce(max(position), 0) AS head FROM events"
                ).fetchone()
                rows = projection_status(conn)
                seal = seal_status(conn)
        except Exception as e:  # a scrape reports the outage rather than failing
            log.warning("metrics.read_side_unavailable", error=str(e))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        head = GaugeMetricFamily(
            "bytedash_event_store_head_position",
            "Position of the newest event in the store (events appended so far)",
        )
        head.add_metric([], float(_value(head_row, "head")))
        yield head
        position = GaugeMetricFamily(
            "bytedash_projection_position", "Last event position applied", labels=["projection"]
        )
        lag_events = GaugeMetricFamily(
            "bytedash_projection_lag_events",
            "Events in the store not yet applied by the projection",
            labels=["projection"],
        )
        lag_seconds = GaugeMetricFamily(
            "bytedash_projection_lag_seconds",
            "Age of the oldest event not yet applied (0 when caught up)",
            labels=["projection"],
        )
        parked = GaugeMetricFamily(
            "bytedash_projection_parked_events",
            "Events the projection set aside after its retries failed; they wait for an admin's"
            " retry or skip (the projection goes on past them)",
            labels=["projection"],
        )
        status = GaugeMetricFamily(
            "bytedash_projection_status",
            "1 for the projection's current status, 0 for the others: running, parked (running,"
            " with parked events), error (failing), stopped (no projector process holds it),"
            " rebuilding",
            labels=["projection", "status"],
        )
        for row in rows:
            name = str(row["name"])
            position.add_metric([name], float(row["position"]))
            lag_events.add_metric([name], float(row["lag_events"]))
            lag_seconds.add_metric([name], float(row["lag_seconds"] or 0.0))
            parked.add_metric([name], float(row["parked_events"]))
            for each in PROJECTION_STATUSES:
                status.add_metric([name, each], 1.0 if row["status"] == each else 0.0)
        yield position
        yield lag_events
        yield lag_seconds
        yield parked
        yield status
        unsealed = GaugeMetricFamily(
            "bytedash_chain_unsealed_events",
            "Events the hash chain does not cover yet (the sealer trails the head by moments)",
        )
        unsealed.add_metric([], float(seal.unsealed))
        yield unsealed
        seal_lag = GaugeMetricFamily(
            "bytedash_chain_seal_lag_seconds",
            "Age of the oldest event not yet sealed into the hash chain (0 when all are)",
        )
        seal_lag.add_metric([], float(seal.lag_seconds or 0.0))
        yield seal_lag


def _value(row: Any, key: str) -> Any:
    if row is None:
        return 0
    return row[key] if isinstance(row, dict) else row[0]


class ApiMetrics:
    """The registry of one app and the request histogram its middleware observes."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "bytedash_http_request_duration_seconds",
            "HTTP request latency, by method, route template and status code",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ReadSideCollector(pool))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(method=method, route=route, status=str(status)).observe(
            seconds
        )

    def render(self) -> bytes:
        """The text exposition format; blocks on the database: call it off the event loop."""
        return generate_latest(self.registry)
