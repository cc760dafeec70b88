"""Chat completions from an OpenAI-compatible endpoint, for `llm` steps: the request as the
protocol has it (`POST <base>/chat/completions`, a bearer key), and the answer read back as
text, parsed JSON, tokens and finish reason.

The call itself goes through `delivery.http.call` (httpx), so it is timed and its answer shaped
the same way as an `http_request` step's; the API key is sent, never recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from application.delivery import http


@dataclass(frozen=True)
class LlmEndpoint:
    """Where chat completions go: LLM_BASE_URL (e.g. `https://api.openai.com/v1`) and
    LLM_API_KEY."""

    base_url: str
    api_key: str | None = None

    @property
    def completions_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"


@dataclass(frozen=True)
class Completion:
    content: str
    parsed: Any
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


class AnswerError(Exception):
    """The endpoint answered 2xx with something that is not a usable completion."""


def chat(
    client: httpx.Client,
    endpoint: LlmEndpoint,
    *,
    model: str,
    messages: list[dict[str, str]],
    json_output: bool,
    temperature: float | None,
    max_tokens: int | None,
    timeout_seconds: float,
) -> http.HttpAnswer:
    """One request; transport failures raise httpx.HTTPError, as `http.call` does."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if json_output:
        body["response_format"] = {"type": "json_object"}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    headers = {"Content-Type": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return http.call(
        client,
        method="POST",
        url=endpoint.completions_url,
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
    )


def completion(body: Any, *, json_output: bool) -> Completion:
    """The first choice of a chat-completion answer; AnswerError says what is missing."""
    if not isinstance(body, dict):
        raise AnswerError("the endpoint's answer is not a chat completion (not a JSON object)")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise AnswerError("the endpoint's answer has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise AnswerError("the endpoint's answer has no message content")
    parsed: Any = None
    if json_output:
        try:
            parsed = json.loads(_unfenced(content))
        except ValueError:
            shown = content if len(content) <= 200 else content[:199] + "…"
            raise AnswerError(f"the model's answer is not JSON: {shown!r}") from None
    found = body.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    finish = choices[0].get("finish_reason")
    model = body.get("model")
    return Completion(
        content=content,
        parsed=parsed,
        model=model if isinstance(model, str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        total_tokens=_count(usage.get("total_tokens")),
    )


def error_message(body: Any) -> str | None:
    """The endpoint's own words for a refused request (`{"error": {"message": …}}`)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return None


def retry_after(headers: dict[str, str]) -> float | None:
    """Retry-After in seconds, when the endpoint gave it as a number."""
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _unfenced(content: str) -> str:
    """Models often wrap JSON in a ```json fence even when asked for JSON only."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        if text.lower().startswith("json"):
            text = text[4:]
    return text.strip()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
