"""The HTTP API: `create_app(settings)` builds a FastAPI app; nothing is built at import."""

from interfaces.api.app import create_app

__all__ = ["create_app"]
