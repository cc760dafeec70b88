"""The `llm` step's config, cost and the refusal of llm steps where no endpoint is configured;
and the reading of a chat-completion answer."""

from __future__ import annotations

from typing import Any

import pytest

from application.delivery.llm import AnswerError, LlmEndpoint, completion, retry_after
from domain.steps import StepConfigError, step_type
from domain.steps.llm import LlmConfig, cost, endpoint_problems


def _answer(content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m-1",
        "choices": [
            {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        **extra,
    }


def test_a_rendered_config_becomes_messages_and_retry_settings() -> None:
    config = step_type("llm").parse(
        {"model": "gpt", "system": "Be brief.", "prompt": "Hi {{x}}", "retries": 0}
    )
    assert isinstance(config, LlmConfig)
    assert config.messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi {{x}}"},
    ]
    assert config.attempts == 1
    assert config.timeout == 60.0
    assert config.response_format == "text"


def test_a_prompt_that_rendered_to_nothing_fails_naming_the_field() -> None:
    with pytest.raises(StepConfigError) as refused:
        step_type("llm").parse({"model": "gpt", "prompt": "  "})
    assert refused.value.field == "prompt"
    assert "rendered to nothing" in refused.value.message


def test_cost_is_priced_per_thousand_tokens_and_absent_without_prices() -> None:
    assert cost(0.5, 1.5, 1200, 300) == {"input": 0.6, "output": 0.45, "total": 1.05}
    assert cost(None, 2.0, 1200, 500) == {"input": 0.0, "output": 1.0, "total": 1.0}
    assert cost(None, None, 1200, 300) is None


def test_every_llm_step_is_named_when_no_endpoint_is_configured() -> None:
    body = {
        "steps": [
            {"id": "t", "type": "trigger"},
            {"id": "a", "type": "llm"},
            {"id": "b", "type": "transform"},
            {"id": "c", "type": "llm"},
        ]
    }
    problems = endpoint_problems(body, endpoint_configured=False)
    assert [(p.field, p.step_id) for p in problems] == [
        ("steps[1].type", "a"),
        ("steps[3].type", "c"),
    ]
    assert endpoint_problems(body, endpoint_configured=True) == []
    assert endpoint_problems({"steps": "nope"}, endpoint_configured=False) == []


def test_a_completion_is_read_with_its_tokens_and_json() -> None:
    done = completion(_answer('```json\n{"a": 1}\n```'), json_output=True)
    assert done.parsed == {"a": 1}
    assert (done.prompt_tokens, done.completion_tokens, done.total_tokens) == (10, 4, 14)
    assert done.model == "m-1"
    assert done.finish_reason == "stop"
    assert completion(_answer("plain"), json_output=False).parsed is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>", "not a chat completion"),
        ({"choices": []}, "has no choices"),
        (_answer(None), "has no message content"),
    ],
)
def test_an_answer_that_is_no_completion_says_what_is_missing(body: Any, message: str) -> None:
    with pytest.raises(AnswerError, match=message):
        completion(body, json_output=False)


def test_the_endpoint_url_and_retry_after() -> None:
    assert LlmEndpoint("https://llm.example/v1/").completions_url == (
        "https://llm.example/v1/chat/completions"
    )
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after({}) is None
