"""The API stack's fixtures (real Postgres, the Temporal dev server, the projector) for the
erasure tests over HTTP."""

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    module_database_url,
    projector_running,
)
