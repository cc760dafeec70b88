"""Secrets in an outbound call: substituted just before it, kept out of everything after it.

The workflow renders a step's config but leaves `{{secrets.NAME}}` as this exact text
(domain/templates.py), so the activity's input, the workflow's history and the recorded
`HttpRequestMade` hold only the reference. The activity reads the values (the secret store),
puts them into the request it sends, and runs whatever it keeps from the call (the step's
output, an error message) through `scrub`, so that an endpoint echoing a credential back
(`/anything`-style services, an error page quoting the request) cannot bring it into the
events either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from domain.secret_names import NAME_PATTERN

REFERENCE = re.compile(r"\{\{secrets\.(" + NAME_PATTERN + r")\}\}")


class MissingSecretError(Exception):
    """A reference to a secret the org does not have (any more)."""

    def __init__(self, names: list[str]) -> None:
        shown = ", ".join(names)
        super().__init__(
            f"the secret{'s' if len(names) > 1 else ''} {shown} "
            f"{'are' if len(names) > 1 else 'is'} not set for this org: set "
            f"{'them' if len(names) > 1 else 'it'} with PUT /api/v1/secrets/<name>"
        )
        self.names = names


def referenced(*values: Any) -> set[str]:
    """The secret names referenced anywhere in these JSON values."""
    names: set[str] = set()
    stack = list(values)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            names.update(REFERENCE.findall(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return names


def substitute(value: Any, secrets: Mapping[str, str]) -> Any:
    """`value` with every reference replaced by its secret (MissingSecretError when one is not
    in `secrets`). Only string values change; keys do not."""
    if isinstance(value, str):
        if "{{secrets." not in value:
            return value
        missing = sorted(set(REFERENCE.findall(value)) - set(secrets))
        if missing:
            raise MissingSecretError(missing)
        return REFERENCE.sub(lambda match: secrets[match.group(1)], value)
    if isinstance(value, Mapping):
        return {key: substitute(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, secrets) for item in value]
    return value


def scrub(value: Any, secrets: Mapping[str, str]) -> Any:
    """`value` with every secret value (as is, and URL-encoded) replaced by `[secret NAME]`,
    in strings and keys alike."""
    if not secrets:
        return value
    forms = sorted(
        ((form, name) for name, secret in secrets.items() for form in _forms(secret)),
        key=lambda pair: -len(pair[0]),
    )
    return _scrub(value, forms)


def _forms(secret: str) -> set[str]:
    return {form for form in (secret, quote(secret, safe=""), quote(secret)) if form}


def _scrub(value: Any, forms: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for form, name in forms:
            if form in value:
                value = value.replace(form, f"[secret {name}]")
        return value
    if isinstance(value, Mapping):
        return {_scrub(key, forms): _scrub(item, forms) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, forms) for item in value]
    return value
