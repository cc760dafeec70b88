"""The API stack (tests/integration/api/conftest.py): a dry run needs only the app and Postgres
(it starts its own time-skipping Temporal server), and the stack is what clients call."""

from __future__ import annotations

from tests.integration.api.conftest import (  # noqa: F401 - fixtures, found by name
    module_database_url,
    projector_running,
    stack,
)
