"""What may name an org's secret: kept apart from the `Secret` aggregate so that the template
language (which workflow code imports) can recognise `{{secrets.NAME}}` without importing the
event-sourcing library."""

from __future__ import annotations

import re

# Upper case, digits and underscores, starting with a letter: the shape of an environment
# variable, so that `{{secrets.NAME}}` reads unmistakably as a reference and never as data.
NAME_PATTERN = r"[A-Z][A-Z0-9_]{0,63}"
_NAME = re.compile(NAME_PATTERN)


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a secret, or None when it can."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if isinstance(name, str) and len(name) <= 80 else "this name"
        return (
            f"{shown} is not a secret name: use 1 to 64 upper-case letters, digits and "
            "underscores, starting with a letter (e.g. CRM_API_KEY)."
        )
    return None
