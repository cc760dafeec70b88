"""Request and response models (DTOs) of the HTTP API, one module per resource.

Names say their role: ``ContactCreate`` / ``ContactUpdate`` (request bodies, unknown fields
refused), ``ContactPublic`` (what a client reads), ``ContactsPage`` (a list page).
"""
