"""Command latency through the whole stack: ``python -m bench.api`` from the repo root.

Starts the real ``bytedash up`` on embedded Postgres and Temporal in a temporary folder, then
times sequential calls: ``POST /contacts?wait=true`` (HTTP → Temporal workflow → activity →
event store → projector → read back), ``POST /contacts`` without waiting, and ``GET /healthz``
over the same HTTP stack as the floor. Prints p50/p99 and a final ``summary:`` line.
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

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
