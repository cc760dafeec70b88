"""`llm`: one chat completion from an OpenAI-compatible endpoint (`POST <LLM_BASE_URL>/chat/
completions`), the model chosen per step.

    {"model": "gpt-4o-mini", "system": "You sort support mail.",
     "prompt": "Classify: {{payload.subject}}", "response_format": "json",
     "price_per_1k_input_tokens": 0.00015, "price_per_1k_output_tokens": 0.0006}

`system` and `prompt` (the user message) are templates. With `response_format: json` the
endpoint is asked for a JSON object and the answer is parsed, so later steps read
`{{<step id>.json.<key>}}`; otherwise `{{<step id>.content}}` is the text. The output also
records the tokens used, the call's latency and, when the step names prices, its cost. 429, 5xx
and no answer are retried (`retries`, backing off from `backoff_seconds`); another 4xx fails the
step at once.

The endpoint is a deployment's setting (LLM_BASE_URL, LLM_API_KEY), not a definition's: a
definition with an llm step is refused where none is configured (`endpoint_problems`, which the
HTTP layer adds to validation's problems, since the domain reads no environment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from domain.errors import Problem
from domain.steps.base import Number, StepConfig, StepType, Text, number
from domain.steps.checks import StepConfigChecker, shown

NAME = "llm"
RESPONSE_FORMATS = ("text", "json")
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_BACKOFF_SECONDS = 1.0
MAX_TIMEOUT_SECONDS = 300
MAX_TOKENS = 128_000
MAX_PROMPT_CHARS = 100_000


def _required_text(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if not text.strip():
        raise ValueError(f"rendered to nothing ({value!r}).")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"is {len(text):,} characters long; at most {MAX_PROMPT_CHARS:,}.")
    return text


RequiredText = Annotated[str, BeforeValidator(_required_text)]


class LlmConfig(StepConfig):
    model: RequiredText
    prompt: RequiredText
    system: Text = None
    response_format: Literal["text", "json"] = "text"
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: Number = 0.0
    retries: Any = None
    backoff_seconds: Number = 0.0
    price_per_1k_input_tokens: float | None = None
    price_per_1k_output_tokens: float | None = None

    @property
    def timeout(self) -> float:
        return self.timeout_seconds or DEFAULT_TIMEOUT_SECONDS

    @property
    def attempts(self) -> int:
        return 1 + int(DEFAULT_RETRIES if self.retries is None else number(self.retries))

    @property
    def backoff(self) -> float:
        return self.backoff_seconds or DEFAULT_BACKOFF_SECONDS

    def messages(self) -> list[dict[str, str]]:
        """The chat messages: the system message (when given), then the prompt."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.prompt}]


def check(c: StepConfigChecker, config: Mapping[str, Any]) -> None:
    c.text(config, "model", required=True)
    prompt = c.text(config, "prompt", required=True)
    system = c.text(config, "system", required=False)
    for key, text in (("prompt", prompt), ("system", system)):
        if text is not None and len(text) > MAX_PROMPT_CHARS:
            c.add(key, f"'{key}' is longer than {MAX_PROMPT_CHARS:,} characters.")
    response_format = config.get("response_format")
    if response_format is not None and response_format not in RESPONSE_FORMATS:
        c.add(
            "response_format",
            f"'response_format' is {shown(response_format)}; it must be 'text' or 'json'.",
        )
    if config.get("temperature") is not None:
        c.number(config["temperature"], "temperature", inclusive=True, maximum=2)
    c.optional_number(config, "max_tokens", maximum=MAX_TOKENS, whole=True)
    c.optional_number(config, "timeout_seconds", maximum=MAX_TIMEOUT_SECONDS)
    c.optional_number(config, "retries", inclusive=True, maximum=10, whole=True)
    c.optional_number(config, "backoff_seconds", maximum=60)
    for key in ("price_per_1k_input_tokens", "price_per_1k_output_tokens"):
        c.optional_number(config, key, inclusive=True)


def endpoint_problems(body: object, *, endpoint_configured: bool) -> list[Problem]:
    """One problem per llm step of the definition `body` when this deployment has no LLM
    endpoint (LLM_BASE_URL unset): the definition could never run them."""
    if endpoint_configured or not isinstance(body, Mapping):
        return []
    steps = body.get("steps")
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        return []
    problems: list[Problem] = []
    for index, step in enumerate(steps):
        if isinstance(step, Mapping) and step.get("type") == NAME:
            step_id = step.get("id")
            problems.append(
                Problem(
                    f"steps[{index}].type",
                    "An llm step needs an LLM endpoint, and this server has none: set "
                    "LLM_BASE_URL (and LLM_API_KEY) for the API and the worker, or remove the "
                    "step.",
                    step_id if isinstance(step_id, str) else None,
                )
            )
    return problems


def cost(
    price_per_1k_input: float | None,
    price_per_1k_output: float | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
) -> dict[str, float] | None:
    """What a call cost at a step's prices per 1,000 tokens (in whatever currency the prices
    are); None when the step names no price."""
    if price_per_1k_input is None and price_per_1k_output is None:
        return None
    spent_in = (prompt_tokens or 0) * (price_per_1k_input or 0) / 1000
    spent_out = (completion_tokens or 0) * (price_per_1k_output or 0) / 1000
    return {
        "input": round(spent_in, 8),
        "output": round(spent_out, 8),
        "total": round(spent_in + spent_out, 8),
    }


TYPE = StepType(NAME, LlmConfig, check)
