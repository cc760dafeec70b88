"""The execution engine benchmark, end to end: the product as a user runs it against a
hand-written service of the same onboarding (``python -m bench.compare``, or
``python -m bench.e2e``, the same thing).

- ``servers``: the shared Postgres server and the Temporal dev server the bench starts;
- ``stacks``: each side started as its own processes (``bytedash up``, the hand-written one);
- ``handwritten``: the hand-written FastAPI app and worker (bench/e2e_baseline.py's workflow);
- ``onboarding``: the HTTP calls of one onboarding, webhook signing included;
- ``load``: the latency load at a rate and the throughput load at a concurrency;
- ``cpu``: CPU seconds by group of processes, from /proc;
- ``sampler``: what the Postgres backends wait for;
- ``history``: the shape of a side's Temporal histories;
- ``report``: percentiles, ratios and aims as printed.
"""
