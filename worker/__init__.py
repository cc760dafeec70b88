"""Temporal workflows, activities and the worker process."""
