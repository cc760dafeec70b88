"""The API stack (tests/integration/api/conftest.py): real Postgres, the Temporal dev server, the
worker and the projector (every read model, execution_stats among them) behind the app."""

from __future__ import annotations

from tests.integration.api.conftest import (  # noqa: F401 - fixtures, found by name
    module_database_url,
    projector_running,
    stack,
)
