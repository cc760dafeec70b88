"""The embedded Temporal dev server of `bytedash up`: a server that dies while starting (a port
taken between the check and its bind, seen in CI with several stacks starting at once) is
started again rather than ending `up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from interfaces.embedded import START_ATTEMPTS, EmbeddedStartError, EmbeddedTemporal, free_port


class _FailingFirst(EmbeddedTemporal):
    """Its first `failures` starts run a process that exits with 2 at once, as the dev server
    does when it loses a port to another process."""

    def __init__(self, data_dir: Path, failures: int) -> None:
        super().__init__(data_dir, port=free_port(17900), ui_port=free_port(18900))
        self.failures = failures
        self.spawned = 0

    def _spawn(self, die_with_parent: bool) -> None:
        self.spawned += 1
        if self.spawned <= self.failures:
            self._process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
            return
        super()._spawn(die_with_parent)


def test_a_server_that_dies_while_starting_is_started_again(tmp_path: Path) -> None:
    server = _FailingFirst(tmp_path, failures=START_ATTEMPTS - 1)
    try:
        address = server.start(timeout=60)
        assert server.spawned == START_ATTEMPTS
        temporal = str(Path(sys.executable).parent / "temporal")
        health = subprocess.run(
            [temporal, "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert "SERVING" in health.stdout
    finally:
        server.stop()


def test_a_server_that_keeps_dying_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    server = _FailingFirst(tmp_path, failures=START_ATTEMPTS)
    with pytest.raises(EmbeddedStartError, match=f"exited with 2 \\({START_ATTEMPTS} tries\\)"):
        server.start(timeout=30)
    assert server.spawned == START_ATTEMPTS
