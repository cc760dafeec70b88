"""Fuzzing every operation of the OpenAPI document against the running app (issue 10, deliver 5).

Schemathesis draws requests from the document the app serves, valid ones and deliberately
invalid ones, for every operation; each goes to the real app (real Postgres, the real Temporal
dev server, the worker and projector of the module's stack) as an owner of a fresh org. Every
answer must be:

* not a 5xx (bad input is never a 500, and nothing here takes Postgres or Temporal away);
* declared: its status code, content type and, where the document gives one, its body schema;
* an error as ``application/problem+json`` with ``type``, ``title``, ``status`` and ``detail``.

Each operation is tried with random path parameters and, where it has them, with the ids of
real resources (a contact, a task, an active definition, a running execution), so that bodies
reach the routes' logic instead of stopping at a 404. The run is bounded (``FUZZ_EXAMPLES``
examples per operation and mode, no shrinking) and seeded: the seed is printed, and
``FUZZ_SEED=<seed> pytest tests/integration/api/test_fuzz.py`` repeats the same requests.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from tests.integration.api.conftest import BASE_URL, Stack
from tests.integration.api.support import PROBLEM_JSON, auth, new_org

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]

SIGNAL_FLOW: dict[str, Any] = {
    "name": "Fuzz target",
    "statuses": [{"id": "done", "label": "Done"}],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {
            "id": "go",
            "type": "wait_for_signal",
            "name": "Wait",
            "config": {"signal": "go", "timeout_days": 3, "on_timeout": "fail"},
        },
    ],
}


def _problem_failure(response: httpx.Response) -> str | None:
    """Why an error answer is not a problem document, or None when it is one."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(PROBLEM_JSON):
        return f"an error answered as {content_type!r}, not {PROBLEM_JSON}"
    body = response.json()
    missing = [key for key in ("type", "title", "status", "detail") if key not in body]
    if missing or body["status"] != response.status_code:
        return f"a problem without {missing} or with another status: {body}"
    return None


async def _real_ids(stack: Stack, headers: dict[str, str]) -> dict[str, str]:
    """Path parameters naming real resources of the fuzzing org."""
    client = stack.client

    async def made(path: str, body: dict[str, Any], code: int = 201) -> dict[str, Any]:
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == code, response.text
        content: dict[str, Any] = response.json()
        return content

    contact = await made("/api/v1/contacts?wait=true", {"first_name": "Fuzz"})
    task = await made("/api/v1/tasks?wait=true", {"title": "Fuzz", "assigned_to": "role:admin"})
    definition = await made("/api/v1/definitions?wait=true", SIGNAL_FLOW)
    await made(f"/api/v1/definitions/{definition['id']}/activate?wait=true", {}, 200)
    execution = await made(
        "/api/v1/executions?wait=true",
        {"definition_id": definition["id"], "contact_id": contact["id"]},
    )
    return {
        "contact_id": contact["id"],
        "task_id": task["id"],
        "definition_id": definition["id"],
        "execution_id": execution["id"],
        "workflow_id": execution["workflow_id"],
        "aggregate_type": "contact",
        "aggregate_id": contact["id"],
        "name": "contacts",
        "key": "applicant-onboarding",
    }


async def test_every_operation_answers_as_documented_under_fuzzing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # in the run's output whatever happens, for reproduction
        print(f"\nfuzz seed: {SEED} (repeat with FUZZ_SEED={SEED}), {FUZZ_EXAMPLES} examples each")
    loop = asyncio.get_running_loop()
    headers = auth(new_org(), "owner", "fuzzer")
    ids = await _real_ids(stack, headers)
    document = (await stack.client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)

    def send(case: Case[Any]) -> httpx.Response:
        """The case over the module's in-process client, on the event loop the worker and
        the app's Temporal client live on (this function runs in a thread)."""
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        content = kwargs.get("data")
        if "json" in kwargs:
            # As JSON text, so that a drawn null is sent as `null` rather than as no body.
            content = json.dumps(kwargs["json"]).encode()
        request = stack.client.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            content=content if isinstance(content, bytes | str) else None,
        )
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    failures: list[str] = []
    sent = 0

    def fuzz(label: str, strategy: Any) -> None:
        @seed(SEED)
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Case[Any]) -> None:
            nonlocal sent
            # A wait for read-your-writes is bounded by the fuzz, not by the drawn value.
            if case.query and "wait_timeout" in case.query:
                case.query["wait_timeout"] = 2
            response = send(case)
            sent += 1
            why = _problem_failure(response)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as e:
                why = f"{why or ''} {e}".strip()
            if why is not None:
                raise AssertionError(f"{why}\n  {case.as_curl_command()}")

        try:
            run()
        except Unsatisfiable:
            pass  # nothing to make invalid (an operation without parameters or body)
        except Exception as e:  # any failure of one operation is reported with the others
            failures.append(f"{label}: {type(e).__name__}: {e}")

    def strategies() -> list[tuple[str, Any]]:
        """Per operation and mode: random path parameters, and real ids where it takes them."""
        planned: list[tuple[str, Any]] = []
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                failures.append(f"the document has an operation schemathesis cannot read: {result}")
                continue
            operation = result.ok()
            names = [parameter.name for parameter in operation.path_parameters]
            known = {name: ids[name] for name in names if name in ids}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                label = f"{operation.label} [{mode.value}]"
                planned.append((label, operation.as_strategy(generation_mode=mode)))
                if names and len(known) == len(names):
                    strategy = operation.as_strategy(generation_mode=mode, path_parameters=known)
                    planned.append((f"{label} with real ids", strategy))
        return planned

    def run_all() -> None:
        for label, strategy in strategies():
            fuzz(label, strategy)

    started = time.monotonic()
    await asyncio.to_thread(run_all)
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"fuzz: {sent} requests over {len(document['paths'])} paths in {seconds:.0f} s")

    assert sent > 0
    assert not failures, f"seed {SEED}:\n" + "\n".join(failures)
