"""Temporal workflows. Modules here import only temporalio and ``worker.contracts``."""
