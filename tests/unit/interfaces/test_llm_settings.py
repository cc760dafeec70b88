"""LLM_BASE_URL and LLM_API_KEY: read from the environment, checked once at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from interfaces.settings import Settings


def test_the_llm_endpoint_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", " https://llm.example/v1 ")
    monkeypatch.setenv("LLM_API_KEY", "sk-secret")
    settings = Settings(_env_file=None)
    assert settings.llm_base_url == "https://llm.example/v1"
    assert settings.llm_key() == "sk-secret"
    assert "sk-secret" not in repr(settings)


def test_unset_or_empty_means_no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "")
    monkeypatch.delenv("LLM_API_KEY", raising=False)
    settings = Settings(_env_file=None)
    assert settings.llm_base_url is None
    assert settings.llm_key() is None


def test_a_url_without_a_scheme_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "llm.example/v1")
    with pytest.raises(ValidationError, match="LLM_BASE_URL must start with http"):
        Settings(_env_file=None)
