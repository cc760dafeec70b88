"""HTTP API, the bytedash CLI, settings and logging: the edges of the system."""
