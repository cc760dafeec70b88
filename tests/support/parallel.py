"""How the whole suite is spread over pytest-xdist workers (``-n auto`` in pyproject's addopts).

The tests mostly wait on Postgres and Temporal, so a few workers finish the suite in well under
the time one takes, even on two cores. Each worker is a pytest session of its own: its own
Temporal dev server, its own migrated template database and per-test or per-module databases
(random names), its own task queues, so workers share nothing but the Postgres server.

* Only the whole suite (``pytest`` with no paths) runs on workers: a file or a test named on the
  command line runs in-process as before, where ``-s``, ``--pdb`` and ``-x`` behave as usual.
  ``-n N`` on the command line, or ``PYTEST_XDIST_AUTO_NUM_WORKERS``, still decides.
* A test file is one unit of work, on one worker, so its module-scoped stack (a database, a
  worker, a projector, the app) starts once, as in a serial run; the browser tests are one unit,
  as they share one ``bytedash up`` per session. The longest units start first.
* ``bytedash up`` gives its embedded Temporal dev server ports 7233 and 8233 when they are free,
  else ports the system picks. Two ``up`` starting at once on two workers could both find them
  free, and the second server would fail to bind: while workers run, the run holds the two
  ports itself (bound, not listening: a connection is refused as if nobody were there), so
  every ``up`` of the tests takes system-picked ports.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

WORKERS = 3
BROWSER = "tests/browser"
# Measured, longest first; a unit not named here waits its turn in xdist's order.
LONGEST_FIRST = (
    "tests/integration/cli/test_up.py",
    BROWSER,
    "tests/integration/cli/test_up_address_book.py",
    "tests/integration/faults/test_faults.py",
    "tests/integration/engine/test_recording_failures.py",
    "tests/integration/cli/test_up_orphans.py",
    "tests/integration/replay/test_rebuild.py",
    "tests/integration/engine/test_for_each.py",
    "tests/integration/engine/test_parallel.py",
    "tests/integration/secrets/test_log_masking.py",
    "tests/integration/engine/test_compensation.py",
    "tests/integration/store/test_library_contract.py",
    "tests/integration/engine/test_error_policy.py",
    "tests/integration/engine/test_step_durability.py",
    "tests/integration/api/test_fuzz.py",
    "tests/integration/faults/test_pools.py",
)
EMBEDDED_TEMPORAL_PORTS = (7233, 8233)  # interfaces/embedded.py, EmbeddedTemporal
_HELD = pytest.StashKey[list[socket.socket]]()


def auto_workers(config: pytest.Config) -> int | None:
    """Workers for ``-n auto``: None lets xdist decide (its environment variable)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    return WORKERS if whole_suite else 0


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or the browser tests' unit."""
    path = nodeid.split("::", 1)[0]
    return BROWSER if path.startswith(f"{BROWSER}/") else path


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class FileScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            first = next((unit for unit in LONGEST_FIRST if unit in self.workqueue), None)
            if first is not None:
                self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return FileScheduling(config, log)


def hold_embedded_temporal_ports(config: pytest.Config) -> None:
    """In the process that runs the workers: bind the ports, without SO_REUSEADDR so that no
    one else can bind them. A port someone else holds already is as good."""
    if getattr(config.option, "dist", "no") == "no" or hasattr(config, "workerinput"):
        return
    held = []
    for port in EMBEDDED_TEMPORAL_PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        held.append(sock)
    config.stash[_HELD] = held


def release_embedded_temporal_ports(config: pytest.Config) -> None:
    for sock in config.stash.get(_HELD, []):
        sock.close()
