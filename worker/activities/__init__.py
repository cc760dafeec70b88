"""Temporal activities: the only place where workflows reach application services."""
