"""What a definition may say about credentials, checked when it is created or published.

A definition is stored in immutable events, shown to every viewer of its org and exported to
auditors, so a credential written into it could never be taken back. Credentials are the org's
secrets instead, referenced as `{{secrets.NAME}}` and substituted only by the activity that
makes the call (application/delivery/secret_refs.py). Here, beside the domain's validation
(which reads no database), the API refuses:

* a reference to a secret the org has not set (naming it: the call could never be made);
* a reference anywhere but where an outbound call sends it: an `http_request`'s `url`,
  `headers` and `body`, an `llm` step's config. Elsewhere (an email's body, a task's title) the
  reference would be sent or shown as text, or the value would be needed inside the workflow;
* a credential-looking header (`Authorization`, `X-Api-Key`, a name holding `token`, `secret`,
  `api-key`, …) whose value is written out in the definition: it points to secrets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from psycopg_pool import ConnectionPool

from domain.errors import Problem
from domain.templates import has_template, secret_names
from projections.queries.secrets import known_secret_names

# Headers that carry credentials by name, and words that make a header name one.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
CREDENTIAL_WORDS = ("token", "secret", "api-key", "apikey", "api_key", "password")
# Where each step type may reference secrets: config keys (None: anywhere in its config).
SECRET_FIELDS: dict[str, frozenset[str] | None] = {
    "http_request": frozenset({"url", "headers", "body"}),
    "llm": None,
}


def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in CREDENTIAL_HEADERS or any(word in lowered for word in CREDENTIAL_WORDS)


def definition_secret_problems(
    body: object, org_id: str, pool: ConnectionPool[Any]
) -> list[Problem]:
    """The problems of `body`'s secret references and inline credentials; the names it
    references are looked up among the org's secrets (one query, only when there are any)."""
    steps = list(_steps(body))
    names: set[str] = set()
    for _, _, _, config in steps:
        names |= secret_names(config)
    known: set[str] = set()
    if names:
        with pool.connection() as conn:
            known = known_secret_names(conn, org_id, names)
    problems: list[Problem] = []
    for path, step_id, step_type, config in steps:
        problems.extend(_step_problems(path, step_id, step_type, config, known))
    return problems


def secret_placement_problems(body: object) -> list[Problem]:
    """`definition_secret_problems` less the check that each referenced secret is set: a dry
    run (which sends nothing and reports which references are set) refuses what a definition
    may never say, a reference where no call sends it and a credential written inline."""
    problems: list[Problem] = []
    for path, step_id, step_type, config in _steps(body):
        problems.extend(_step_problems(path, step_id, step_type, config, secret_names(config)))
    return problems


def _steps(body: object) -> Iterator[tuple[str, str | None, str, Mapping[str, Any]]]:
    """(path, step id to report, type, config) of every step and compensation, the steps inside
    `parallel` branches and `for_each` loops included."""
    if not isinstance(body, Mapping):
        return
    yield from _sequence(body.get("steps"), "steps")


# The keys of a container step's config that hold steps (walked as steps, not as its config).
_NESTED_STEPS = {"parallel": "branches", "for_each": "steps"}


def _sequence(steps: object, path: str) -> Iterator[tuple[str, str | None, str, Mapping[str, Any]]]:
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        here = f"{path}[{index}]"
        step_id = step.get("id") if isinstance(step.get("id"), str) else None
        yield from _one(here, step_id, step)
        compensate = step.get("compensate")
        undo = [compensate] if isinstance(compensate, Mapping) else compensate
        if isinstance(undo, list):
            for number, item in enumerate(undo):
                if isinstance(item, Mapping):
                    yield from _one(f"{here}.compensate[{number}]", step_id, item)
        config = step.get("config")
        nested = _NESTED_STEPS.get(str(step.get("type")))
        if nested is None or not isinstance(config, Mapping):
            continue
        if nested == "steps":
            yield from _sequence(config.get("steps"), f"{here}.config.steps")
        elif isinstance(config.get("branches"), list):
            for number, branch in enumerate(config["branches"]):
                if isinstance(branch, Mapping):
                    branch_path = f"{here}.config.branches[{number}].steps"
                    yield from _sequence(branch.get("steps"), branch_path)


def _one(
    path: str, step_id: str | None, step: Mapping[str, Any]
) -> Iterator[tuple[str, str | None, str, Mapping[str, Any]]]:
    config = step.get("config")
    step_type = step.get("type")
    if isinstance(config, Mapping) and isinstance(step_type, str):
        nested = _NESTED_STEPS.get(step_type)
        if nested is not None:  # its steps are checked one by one, where they are
            config = {key: value for key, value in config.items() if key != nested}
        yield f"{path}.config", step_id, step_type, config


def _step_problems(
    path: str,
    step_id: str | None,
    step_type: str,
    config: Mapping[str, Any],
    known: AbstractSet[str],
) -> Iterator[Problem]:
    allowed = SECRET_FIELDS.get(step_type, frozenset())
    for key, value in config.items():
        for where, text in _strings(value, f"{path}.{key}"):
            names = secret_names(text)
            if not names:
                continue
            if allowed is not None and key not in allowed:
                places = "an http_request's url, headers and body, or an llm step's config"
                yield Problem(
                    where,
                    f"A secret may be referenced only where an outbound call sends it ({places}); "
                    f"here {', '.join(sorted(names))} would be shown or stored as text.",
                    step_id,
                )
                continue
            for name in sorted(names - known):
                yield Problem(
                    where,
                    f"The secret {name} is not set for this org: set it first with "
                    f"PUT /api/v1/secrets/{name} (admins and owners).",
                    step_id,
                )
    headers = config.get("headers") if step_type == "http_request" else None
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if (
                isinstance(name, str)
                and is_credential_header(name)
                and isinstance(value, str)
                and value.strip()
                and not has_template(value)
            ):
                yield Problem(
                    f"{path}.headers.{name}",
                    f"The header '{name}' carries a credential written into the definition, "
                    "which every viewer of the org reads and the event store keeps forever: "
                    "store it as a secret (PUT /api/v1/secrets/NAME) and write "
                    f"'{{{{secrets.NAME}}}}' in its place.",
                    step_id,
                )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
