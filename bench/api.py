"""The HTTP API: ``python -m bench.api`` from the repo root.

Two benches:

* **Commands** (default): starts the real ``bytedash up`` on embedded Postgres and Temporal in a
  temporary folder, then times sequential calls: ``POST /contacts?wait=true`` (HTTP → Temporal
  workflow → activity → event store → projector → read back), ``POST /contacts`` without
  waiting, and ``GET /healthz`` over the same HTTP stack as the floor. Prints p50/p99 and a
  final ``summary:`` line.
* **Reads under load** (``--load``): starts ``bytedash up`` once per ``--api-workers`` count
  (default ``1,2``; other ``up`` flags after ``--``) against the Postgres server of DATABASE_URL
  (else 127.0.0.1:5432) in a scratch database and the Temporal dev server ``up`` embeds, creates
  executions through signed webhooks (each with its contact and review task), then sends the
  three reads a dashboard polls, in turn: ``GET /api/v1/contacts``,
  ``GET /api/v1/tasks?execution_id=`` and ``GET /api/v1/executions/{id}``. First an open loop:
  ``--rate`` requests/s (default 500; several allowed: ``--rate 250,500``) for ``--seconds``,
  each request timed from the moment it was *due* (a server that falls behind shows it in the
  latencies instead of slowing the client down), with the CPU per request of the API
  process(es) and of Postgres. Then, when Debian's ``wrk`` is installed
  (``apt-get install -y wrk``), the capacity: ``wrk`` closed loop on 8 connections, as fast as
  the API answers. Each step is repeated ``--rounds`` times; the ``summary:`` line gives the
  medians, and the capacity of each worker count against the first.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import httpx

from interfaces.embedded import free_port


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _time(n: int, call: Callable[[int], None]) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--load", action="store_true", help="the reads under load")
    parser.add_argument(
        "--rate", default="500", help="--load: requests per second (several: 250,500)"
    )
    parser.add_argument(
        "--api-workers", default="1,2", help="--load: API processes, one stack each (1,2)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="--load: of each round")
    parser.add_argument("--rounds", type=int, default=3, help="--load: rounds")
    parser.add_argument("--executions", type=int, default=30, help="--load: to read")
    args, up_args = parser.parse_known_args()
    if args.load:
        from bench.api_load import run_load

        rates = [float(rate) for rate in args.rate.split(",")]
        workers = [int(count) for count in args.api_workers.split(",")]
        run_load(rates, args.seconds, args.rounds, args.executions, workers, up_args)
        return
    if up_args:
        parser.error(f"unknown arguments {up_args}")

    port = free_port(18400)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bytedash-bench-") as data_dir:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "AUTH_JWT_SECRET", "BYTEDASH_ENV")
        }
        env.update(BYTEDASH_DATA_DIR=data_dir, API_PORT=str(port), LOG_FORMAT="json")
        cli = [sys.executable, "-m", "interfaces.cli"]
        process = subprocess.Popen(
            [*cli, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("bytedash up did not become ready")
                time.sleep(0.5)
            token = subprocess.run(
                [*cli, "token", "--org", "org_bench", "--role", "member"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

                def post(wait: bool) -> Callable[[int], None]:
                    def call(i: int) -> None:
                        url = "/api/v1/contacts?wait=true" if wait else "/api/v1/contacts"
                        body = {"first_name": f"Ada{i}", "email": f"ada{i}@example.com"}
                        response = client.post(url, json=body)
                        assert response.status_code == (201 if wait else 202), response.text

                    return call

                def health(i: int) -> None:
                    assert client.get("/healthz").status_code == 200

                _time(20, post(True))  # warm-up: connections, prepared statements
                waited = _percentiles(_time(args.calls, post(True)))
                accepted = _percentiles(_time(args.calls, post(False)))
                floor = _percentiles(_time(args.calls, health))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)

    print(f"bench/api.py: {args.calls} sequential calls each, bytedash up on embedded servers")
    for label, (p50, p99) in (
        ("POST /contacts?wait=true (201, read side shows it)", waited),
        ("POST /contacts (202, events recorded)", accepted),
        ("GET /healthz (HTTP floor)", floor),
    ):
        print(f"  {label:<52} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(
        f"summary: POST /contacts?wait=true p50 {waited[0]:.1f} ms, p99 {waited[1]:.1f} ms "
        f"({waited[0] / floor[0]:.0f}x the /healthz floor of {floor[0]:.1f} ms)"
    )


if __name__ == "__main__":
    main()
