"""docker-compose.yml and Containerfile stay true to the code: every product service runs a real
`bytedash` command line, every variable they set is one the settings read, and the image
carries every package the project installs. No Docker on the test machine: these files are
checked by reading them (docs/deployment.md says what was and was not run)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from interfaces.cli import build_parser
from interfaces.settings import Settings
from worker.contracts import SEARCH_ATTRIBUTES
from worker.search_attributes import type_name

ROOT = Path(__file__).resolve().parents[3]
PRODUCT_IMAGE = "bytedash:latest"
# Variables of the image that are the Python runtime's and pip's, not the product's.
RUNTIME_VARIABLES = frozenset(
    {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
    }
)


def setting_variables() -> frozenset[str]:
    """Every environment variable `Settings` reads (field names, or their aliases)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(choice).upper() for choice in choices if isinstance(choice, str))
        else:
            names.add(name.upper())
    return frozenset(names)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _product_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == PRODUCT_IMAGE
    }


def _parses(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's way of refusing a command line
        raise AssertionError(f"`bytedash {shlex.join(argv)}` is not a bytedash command") from e


def test_every_product_service_runs_a_bytedash_command(compose: dict[str, Any]) -> None:
    services = _product_services(compose)
    commands = {name: service["command"] for name, service in services.items()}
    # The processes of docs/deployment.md, each there.
    assert {c[0] for c in commands.values()} == {"migrate", "api", "worker", "projector"}
    assert sum(c == ["projector"] for c in commands.values()) == 2  # active and standby
    for command in commands.values():
        assert isinstance(command, list) and all(isinstance(part, str) for part in command)
        _parses(command)
    for name, service in services.items():
        assert service["build"]["dockerfile"] == "Containerfile", name
        if name != "migrate":  # everything else starts after the migrations
            after = service["depends_on"]["migrate"]["condition"]
            assert after == "service_completed_successfully", name


def test_every_variable_given_to_the_product_is_a_setting(compose: dict[str, Any]) -> None:
    known = setting_variables()
    for name, service in _product_services(compose).items():
        given = set(service["environment"])
        assert given <= known, f"{name}: {sorted(given - known)} are not settings"
        # What production refuses to start without (interfaces/settings.py).
        assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "WEBHOOK_SECRET_KEY"} <= given
        assert {"BYTEDASH_MASTER_KEY", "AUTH_JWKS_URL"} <= given
        assert service["environment"]["BYTEDASH_ENV"] == "production"
        assert all(str(value).strip() for value in service["environment"].values()), name


def test_the_services_the_product_talks_to_are_the_ones_it_is_given(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    env = _product_services(compose)["api"]["environment"]
    host, port = env["TEMPORAL_ADDRESS"].split(":")
    assert host in services and port == "7233"
    database_host = re.search(r"@([^:/]+):5432/", env["DATABASE_URL"])
    assert database_host is not None and database_host.group(1) in services
    # The namespace the product uses is the one Temporal's set-up creates.
    assert services["temporal"]["environment"]["DEFAULT_NAMESPACE"] == env["TEMPORAL_NAMESPACE"]
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    # The API's health check asks the readiness route on the port the image listens on.
    check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/readyz" in check and ":8000/" in check


def test_compose_registers_the_search_attributes_the_workflows_carry(
    compose: dict[str, Any],
) -> None:
    """Without them every start falls back to an unindexed one (worker/search_attributes.py):
    the registering service must name each attribute of the code, with its type, in the
    product's namespace, and the product must start only after it."""
    services = compose["services"]
    registering = services["temporal-search-attributes"]
    script = registering["command"][0]
    registered = dict(re.findall(r"\b(\w+)=(Keyword|Int)\b", script))
    assert registered == {key.name: type_name(key) for key in SEARCH_ATTRIBUTES}
    namespace = _product_services(compose)["api"]["environment"]["TEMPORAL_NAMESPACE"]
    assert f"--namespace {namespace} " in script
    # The check after creating names every attribute again, so a failed create fails the run.
    listed = re.search(r"for name in ([\w ]+); do", script)
    assert listed is not None and set(listed.group(1).split()) == set(registered)
    assert registering["depends_on"]["temporal"]["condition"] == "service_healthy"
    for name, service in _product_services(compose).items():
        if name != "migrate":
            after = service["depends_on"]["temporal-search-attributes"]["condition"]
            assert after == "service_completed_successfully", name


def _instructions(text: str) -> list[tuple[str, str]]:
    """A Containerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_containerfile_builds_the_project_and_runs_bytedash() -> None:
    instructions = _instructions((ROOT / "Containerfile").read_text())
    assert instructions[0][0] == "FROM"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    python = pyproject["project"]["requires-python"].removeprefix(">=")
    assert instructions[0][1].startswith(f"python:{python}")

    copied = set()
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
                copied.add(source)
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert {"pyproject.toml", "README.md"} <= copied  # the build reads both

    known = setting_variables() | RUNTIME_VARIABLES
    for keyword, rest in instructions:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                assert pair.split("=", 1)[0] in known, f"ENV {pair}: not a setting"
    entrypoint = [json.loads(rest) for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert entrypoint == [["bytedash"]]
    (command,) = [json.loads(rest) for keyword, rest in instructions if keyword == "CMD"]
    _parses(command)
    ports = [rest for keyword, rest in instructions if keyword == "EXPOSE"]
    env = dict(
        pair.split("=", 1)
        for keyword, rest in instructions
        if keyword == "ENV"
        for pair in shlex.split(rest)
    )
    assert ports == [env["API_PORT"]] and env["API_HOST"] == "0.0.0.0"


def test_the_settings_accept_the_environment_compose_gives(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the required secrets filled in as an operator would, production settings load."""
    env = dict(_product_services(compose)["worker"]["environment"])
    filled = {
        "BYTEDASH_DB_PASSWORD": "s3cret",
        "WEBHOOK_SECRET_KEY": "w" * 40,
        "BYTEDASH_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AUTH_JWKS_URL": "https://id.example.com/.well-known/jwks.json",
    }
    for name, value in env.items():
        expanded = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: filled[m.group(1)], str(value))
        assert "${" not in expanded, f"{name}: an unknown substitution in {value!r}"
        monkeypatch.setenv(name, expanded)
    monkeypatch.chdir(ROOT / "tests")  # no .env file of the checkout read
    settings = Settings()
    assert settings.is_production
    assert settings.database_url == "postgresql://bytedash:s3cret@postgres:5432/bytedash"
    assert settings.temporal_namespace == "bytedash"
