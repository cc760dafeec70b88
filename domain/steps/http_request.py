"""`http_request`: an outbound call; `retries` more attempts after a 5xx or no answer, backing
off from `backoff_seconds`; a 4xx fails the step at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator

from domain.steps.base import Field, Number, StepConfig, StepType, Text, number
from domain.steps.checks import StepConfigChecker, shown

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_BACKOFF_SECONDS = 1.0


def _url(value: Any) -> str:
    url = "" if value is None else str(value)
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"is {url!r}; a URL must start with http(s)://.")
    return url


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"must be an object, not {value!r}.")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


class HttpRequestConfig(StepConfig):
    method: Text = None
    url: Annotated[str, BeforeValidator(_url)]
    headers: Annotated[dict[str, str], BeforeValidator(_headers)] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: Number = 0.0
    retries: Any = None
    backoff_seconds: Number = 0.0

    @property
    def verb(self) -> str:
        return (self.method or "GET").upper()

    @property
    def timeout(self) -> float:
        return self.timeout_seconds or DEFAULT_TIMEOUT_SECONDS

    @property
    def attempts(self) -> int:
        return 1 + int(DEFAULT_RETRIES if self.retries is None else number(self.retries))

    @property
    def backoff(self) -> float:
        return self.backoff_seconds or DEFAULT_BACKOFF_SECONDS


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    if c.required(config, "method") and config["method"] not in HTTP_METHODS:
        c.add(
            "method",
            f"HTTP method {shown(config['method'])} is not one of {', '.join(HTTP_METHODS)}.",
        )
    url = c.text(config, "url", required=True)
    # A URL built by a template (`{{input.callback_url}}/done`) can only be checked at run time.
    if (
        url is not None
        and not url.lstrip().startswith("{{")
        and not url.lower().startswith(("http://", "https://"))
    ):
        c.add("url", f"URL {url!r} must start with http:// or https://.")
    headers = c.object(config, "headers", required=False)
    for name, value in headers.items():
        if not isinstance(value, str):
            c.add(f"headers.{name}", f"Header '{name}' must be text, not {shown(value)}.")
    c.optional_number(config, "timeout_seconds", maximum=300)
    c.optional_number(config, "retries", inclusive=True, maximum=10, whole=True)


TYPE = StepType("http_request", HttpRequestConfig, check)
