"""Keeping the garbage collector's full passes short in the long-running processes.

A started process holds about 150,000 objects that live as long as it does: the modules of
FastAPI, pydantic, Temporal, psycopg and ours, their classes, functions and constants. CPython's
collector walks all of them on every full collection, which under a steady load of reads comes
every few seconds (objects that outlive two young collections, such as timers and pooled
connections' buffers, count towards it): each pause took 60-130 ms of the API process on this
project's 2-core machine, and every request that arrived meanwhile waited; they were most of the
read API's p99 (docs/benchmarks.md, "Reads under load").

`gc.freeze()` moves everything alive at that moment into a generation the collector never walks
again, so a full pass walks only what was created since (about 7,000 objects in the API under
load: pauses of a few milliseconds). What it costs: a frozen object that later becomes cyclic
garbage is never reclaimed, which is why it runs once, after start-up, when what is alive is
what the process keeps.

A projector (or a rebuild) is another case: it works in batches of hundreds of events whose
decoded rows all stay alive until the batch is written, so with CPython's default threshold (a
young collection every 700 allocations) most of them are walked by two or three collections
before they die, and enough of them reach the old generation to set off full passes. A
threshold of YOUNG_THRESHOLD_BATCHES allocations lets a batch's objects die young; a young
pass then takes a few milliseconds, which a batch job does not mind (the API keeps CPython's
threshold: there a pause is a slower request).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD_BATCHES = 50_000
_settled = False


def settle(*, young_threshold: int | None = None) -> None:
    """Collect once, then freeze what survives; later calls in the same process do nothing
    (tests build many apps in one process, and one freeze is all a process needs).
    `young_threshold` replaces the young generation's threshold (a batch job's)."""
    global _settled
    if _settled:
        return
    _settled = True
    if young_threshold is not None:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
    gc.collect()
    gc.freeze()
