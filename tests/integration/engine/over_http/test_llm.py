"""`llm` over HTTP against a local OpenAI-compatible server: a templated prompt, JSON output
read by a later step, tokens, latency and cost on the timeline, a 429 retried, a 400 failing the
step, and a definition refused where no LLM endpoint is configured."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem, events_of
from tests.integration.engine.llm_server import USAGE, ChatServer
from tests.integration.engine.over_http.conftest import LLM_KEY
from tests.integration.engine.over_http.support import (
    activate,
    body,
    output,
    run,
    step,
    timeline,
)


def ask(model: str, **config: Any) -> dict[str, Any]:
    return step(
        "ask",
        "llm",
        model=model,
        system="You sort support mail for {{contact.first_name}}.",
        prompt="Classify: {{input.subject}}",
        backoff_seconds=0.2,
        **config,
    )


def _http_attempts(stack: Stack, execution_id: str) -> list[tuple[int | None, str | None]]:
    return [
        (e["data"]["status_code"], e["data"]["error"])
        for e in events_of(stack.database_url, execution_id)
        if e["event_type"] == "WorkflowExecution.HttpRequestMade"
    ]


async def test_json_output_tokens_and_cost_reach_later_steps_and_the_timeline(
    llm_stack: Stack, chat: ChatServer
) -> None:
    caller = llm_stack.caller("admin")
    definition_id = await activate(
        caller,
        body(
            ask(
                "json",
                response_format="json",
                temperature=0,
                max_tokens=200,
                price_per_1k_input_tokens=0.5,
                price_per_1k_output_tokens=1.5,
            ),
            step(
                "route",
                "assign_task",
                title="{{ask.json.category}}: {{ask.json.asked}}",
                assign_to="role:support",
            ),
        ),
    )

    execution = await run(
        caller, definition_id, input={"subject": "Invoice twice"}, contact={"first_name": "Ada"}
    )

    assert execution["status"] == "completed", execution["error"]
    assert timeline(execution) == [
        ("start", "completed"),
        ("ask", "completed"),
        ("route", "completed"),
    ]
    answered = output(execution, "ask")
    assert answered["json"] == {"category": "billing", "asked": "Classify: Invoice twice"}
    assert answered["model"] == "json-2026-01-01"
    assert answered["finish_reason"] == "stop"
    assert answered["usage"] == USAGE
    assert answered["cost"] == {"input": 0.6, "output": 0.45, "total": 1.05}
    assert answered["latency_ms"] > 0
    assert answered["attempts"] == 1
    assert output(execution, "route")["task"]["title"] == "billing: Classify: Invoice twice"
    (sent,) = [r for r in chat.of_model("json") if "Invoice twice" in str(r["body"])]
    assert sent["headers"]["authorization"] == f"Bearer {LLM_KEY}"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "You sort support mail for Ada."},
        {"role": "user", "content": "Classify: Invoice twice"},
    ]
    assert sent["body"]["response_format"] == {"type": "json_object"}
    assert sent["body"]["temperature"] == 0
    assert sent["body"]["max_tokens"] == 200
    attempts = await asyncio.to_thread(_http_attempts, llm_stack, execution["id"])
    assert attempts == [(200, None)]
    recorded = await asyncio.to_thread(events_of, llm_stack.database_url, execution["id"])
    assert LLM_KEY not in str(recorded)  # the key is sent, never recorded
    made = [e for e in recorded if e["event_type"] == "WorkflowExecution.HttpRequestMade"]
    assert made[0]["data"]["url"] == f"{chat.url}/chat/completions"
    assert made[0]["workflow_id"] == f"execution-{execution['id']}"
    assert made[0]["activity_id"] is not None
    assert made[0]["actor"] == "user:u1"


async def test_a_429_is_retried_and_the_step_completes(llm_stack: Stack, chat: ChatServer) -> None:
    caller = llm_stack.caller("admin")
    definition_id = await activate(caller, body(ask("busy-a")))

    execution = await run(
        caller, definition_id, input={"subject": "Hi"}, contact={"first_name": "Bo"}
    )

    assert execution["status"] == "completed", execution["error"]
    answered = output(execution, "ask")
    assert answered["content"] == "Classify: Hi"
    assert answered["attempts"] == 2
    assert answered["cost"] is None  # the step names no prices
    assert chat.hits["busy-a"] == 2
    attempts = await asyncio.to_thread(_http_attempts, llm_stack, execution["id"])
    assert attempts == [
        (429, "the LLM endpoint answered 429: Rate limit reached"),
        (200, None),
    ]


async def test_a_400_fails_the_step_at_once(llm_stack: Stack, chat: ChatServer) -> None:
    caller = llm_stack.caller("admin")
    definition_id = await activate(
        caller,
        body(ask("status-400"), step("never", "transform", expressions={"x": "ask.content"})),
    )

    execution = await run(
        caller, definition_id, input={"subject": "Hi"}, contact={"first_name": "Cy"}
    )

    assert execution["status"] == "failed"
    assert execution["error"] == (
        "Step 'ask' (Ask): the LLM endpoint answered 400: model 'status-400' refused the request"
    )
    assert timeline(execution) == [("start", "completed"), ("ask", "failed")]
    assert chat.hits["status-400"] == 1
    attempts = await asyncio.to_thread(_http_attempts, llm_stack, execution["id"])
    assert [status for status, _ in attempts] == [400]


async def test_an_answer_that_is_not_the_json_asked_for_fails_the_step(
    llm_stack: Stack,
) -> None:
    caller = llm_stack.caller("admin")
    definition_id = await activate(caller, body(ask("prose", response_format="json")))

    execution = await run(
        caller, definition_id, input={"subject": "Hi"}, contact={"first_name": "Di"}
    )

    assert execution["status"] == "failed"
    assert execution["error"] == (
        "Step 'ask' (Ask): the model's answer is not JSON: 'Sure! It is about billing.'"
    )


async def test_config_problems_are_reported_at_once(llm_stack: Stack) -> None:
    caller = llm_stack.caller("admin")
    refused = await caller.post(
        "/api/v1/definitions",
        json=body(step("ask", "llm", prompt="", response_format="yaml", temperature=3, retries=20)),
    )

    problem = assert_problem(refused, 422)
    assert {(e["field"], e["step_id"]) for e in problem["errors"]} == {
        ("steps[1].config.model", "ask"),
        ("steps[1].config.prompt", "ask"),
        ("steps[1].config.response_format", "ask"),
        ("steps[1].config.temperature", "ask"),
        ("steps[1].config.retries", "ask"),
    }


async def test_without_an_llm_endpoint_a_definition_with_an_llm_step_is_refused(
    stack: Stack,
) -> None:
    caller = stack.caller("admin")
    definition = body(ask("echo"), step("again", "llm", model="echo", response_format="xml"))

    refused = await caller.post("/api/v1/definitions", json=definition)

    problem = assert_problem(refused, 422)
    errors = {(e["field"], e["step_id"]): e["message"] for e in problem["errors"]}
    assert set(errors) == {
        ("steps[1].type", "ask"),
        ("steps[2].type", "again"),
        ("steps[2].config.prompt", "again"),
        ("steps[2].config.response_format", "again"),
    }
    assert "set LLM_BASE_URL" in errors[("steps[1].type", "ask")]
    listed = await caller.get("/api/v1/definitions")
    assert listed.json()["items"] == []
