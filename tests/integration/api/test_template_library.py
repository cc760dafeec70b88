"""The templates library over HTTP: categories, tags and configuration schemas; every template
makes a definition the API accepts; a configuration is checked (every bad or missing setting
named) and its values land in the definition; the provisioning template undoes itself
(saga compensation) against a local stand-in for the external account system, and the triage
template classifies a form through a local chat-completions server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.bundle import build_services
from application.delivery.llm import LlmEndpoint
from application.delivery.outbound import ALLOW_LOOPBACK
from domain.definition_library import LIBRARY, parameters
from interfaces.api import create_app
from interfaces.api.webhook_signing import sign
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem
from tests.integration.engine.llm_server import ChatServer, chat_server
from tests.integration.engine.over_http.support import ended, timeline
from worker.main import build_worker

LLM_KEY = "sk-template-tests"


# -- the outside world -------------------------------------------------------------------------


@dataclass
class AccountSystem:
    """A stand-in for an external account system: POST /accounts opens one (answering its id),
    POST /accounts/<id>/activate answers `activation_status`, DELETE /accounts/<id> deletes it."""

    url: str = ""
    activation_status: int = 200
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, path))
        self.hits[f"{method} {path}"] += 1
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["accounts"]:
            account_id = f"acct-{uuid.uuid4().hex[:8]}"
            self.accounts[account_id] = {**json.loads(body or b"{}"), "state": "open"}
            return 201, {"id": account_id}
        if len(parts) >= 2 and parts[0] == "accounts" and parts[1] in self.accounts:
            account = self.accounts[parts[1]]
            if method == "POST" and parts[2:] == ["activate"]:
                if self.activation_status < 300:
                    account["state"] = "active"
                return self.activation_status, {"state": account["state"]}
            if method == "DELETE" and len(parts) == 2:
                account["state"] = "deleted"
                return 200, {"deleted": parts[1]}
        return 404, {"error": f"no {method} {path}"}


@pytest.fixture(scope="module")
def accounts() -> Iterator[AccountSystem]:
    system = AccountSystem()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = system.answer(
                self.command, self.path, self.rfile.read(length) if length else b""
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    system.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield system
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    with chat_server() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,
    projector_running: None,
    chat: ChatServer,
) -> AsyncIterator[Stack]:
    """The API stack (tests/integration/api/conftest.py) with an LLM endpoint configured for
    the API and the worker: without one the triage template's llm step is refused."""
    task_queue = f"templates-{uuid.uuid4().hex[:8]}"
    services = build_services(module_database_url)
    settings = api_settings(
        module_database_url, task_queue, llm_base_url=chat.url, llm_api_key=LLM_KEY
    )
    app = create_app(settings, temporal_client=temporal_env.client)
    worker = build_worker(
        temporal_env.client,
        services,
        task_queue,
        llm=LlmEndpoint(chat.url, LLM_KEY),
        outbound=ALLOW_LOOPBACK,
    )
    try:
        async with worker, serving(app) as http:
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()


# -- helpers -----------------------------------------------------------------------------------


def _errors(problem: dict[str, Any]) -> dict[str, str]:
    return {item["field"]: item["message"] for item in problem["errors"]}


async def _instantiate(admin: Caller, key: str, **request: Any) -> dict[str, Any]:
    made = await admin.post(f"/api/v1/templates/{key}/instantiate?wait=true", json=request)
    assert made.status_code == 201, made.text
    definition: dict[str, Any] = made.json()
    activated = await admin.post(f"/api/v1/definitions/{definition['id']}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return definition


async def _start(admin: Caller, definition_id: str, **start: Any) -> dict[str, Any]:
    started = await admin.post("/api/v1/executions", json={"definition_id": definition_id, **start})
    assert started.status_code in (201, 202), started.text
    return await ended(admin, started.json()["id"])


# -- the library -------------------------------------------------------------------------------


def test_every_placeholder_is_a_setting_that_is_required_or_has_a_default() -> None:
    """Instantiating must never leave a `[[name]]` behind or fail on a name it was not given."""
    for template in LIBRARY:
        settings = template.configuration_schema.get("properties", {})
        required = set(template.required_configuration)
        defaulted = {name for name, spec in settings.items() if "default" in spec}
        assert parameters(template.source) <= required | defaulted, template.key
        assert required <= set(template.example), template.key
        assert template.category and template.tags, template.key


async def test_each_template_lists_its_category_tags_and_configuration(stack: Stack) -> None:
    viewer = stack.caller("viewer")

    listed = await viewer.get("/api/v1/templates")

    assert listed.status_code == 200, listed.text
    items = {t["key"]: t for t in listed.json()["items"]}
    assert set(items) == {t.key for t in LIBRARY}
    provisioning = items["account_provisioning"]
    assert provisioning["category"] == "operations"
    assert {"saga", "compensation"} <= set(provisioning["tags"])
    assert provisioning["required_configuration"] == ["system_url", "notification_email"]
    assert provisioning["configuration_schema"]["properties"]["plan"]["default"] == "standard"
    # The definition shown is made with the example configuration: no parameter is left.
    assert "[[" not in json.dumps(provisioning["definition"])
    assert provisioning["configuration_example"]["system_url"] in json.dumps(
        provisioning["definition"]
    )
    onboarding = items["applicant_onboarding"]
    assert onboarding["category"] == "recruiting"
    assert onboarding["required_configuration"] == []
    one = await viewer.get("/api/v1/templates/lead_scoring")
    assert one.json() == items["lead_scoring"]


async def test_the_listing_filters_by_category_and_by_every_tag_given(stack: Stack) -> None:
    viewer = stack.caller("viewer")

    async def keys(query: str) -> list[str]:
        response = await viewer.get(f"/api/v1/templates{query}")
        assert response.status_code == 200, response.text
        return [t["key"] for t in response.json()["items"]]

    assert await keys("?category=sales") == ["lead_scoring"]
    assert await keys("?category=customer_support") == ["inbound_triage"]
    assert await keys("?tag=llm") == ["inbound_triage"]
    assert await keys("?tag=transform") == ["lead_scoring"]
    assert await keys("?tag=http&tag=saga") == ["account_provisioning"]
    assert set(await keys("?tag=http")) == {"background_check", "account_provisioning"}
    assert await keys("?category=sales&tag=llm") == []
    assert await keys("?category=marketing") == []
    for bad in ("?category=", "?tag=" + "x" * 65, "?category=" + "y" * 65):
        problem = assert_problem(await viewer.get(f"/api/v1/templates{bad}"), 422)
        assert problem["errors"][0]["field"] in ("category", "tag[0]"), problem


async def test_every_template_makes_a_definition_the_api_accepts(stack: Stack) -> None:
    """Both ways a client has: POST the listed definition, or instantiate the template."""
    admin = stack.caller("admin")
    listed = (await admin.get("/api/v1/templates")).json()["items"]
    assert len(listed) >= 6

    for template in listed:
        posted = await admin.post("/api/v1/definitions?wait=true", json=template["definition"])
        assert posted.status_code == 201, (template["key"], posted.text)
        made = await admin.post(
            f"/api/v1/templates/{template['key']}/instantiate?wait=true",
            json={"configuration": template["configuration_example"]},
        )
        assert made.status_code == 201, (template["key"], made.text)
        assert made.json()["steps"] == posted.json()["steps"]


async def test_templates_without_required_settings_instantiate_as_before(stack: Stack) -> None:
    admin = stack.caller("admin")
    for key in ("applicant_onboarding", "employee_onboarding", "background_check"):
        bare = await admin.post(f"/api/v1/templates/{key}/instantiate?wait=true")
        assert bare.status_code == 201, bare.text
        empty = await admin.post(
            f"/api/v1/templates/{key}/instantiate?wait=true", json={"configuration": None}
        )
        assert empty.status_code == 201, empty.text
        assert empty.json()["steps"] == bare.json()["steps"]


async def test_a_configuration_is_checked_naming_each_bad_or_missing_setting(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    url = "/api/v1/templates/account_provisioning/instantiate"

    bodies: list[dict[str, Any] | None] = [None, {}, {"name": "Accounts"}, {"configuration": {}}]
    for sent in bodies:
        problem = assert_problem(await admin.post(url, json=sent), 422)
        assert set(_errors(problem)) == {
            "configuration.system_url",
            "configuration.notification_email",
        }, problem
        assert all(e["location"] == "body" for e in problem["errors"])

    problem = assert_problem(
        await admin.post(
            url,
            json={
                "configuration": {
                    "system_url": "ftp://accounts.example.com/",
                    "notification_email": "nobody",
                    "plan": "{{payload.plan}}",
                    "colour": "blue",
                }
            },
        ),
        422,
    )
    errors = _errors(problem)
    assert set(errors) == {
        "configuration.system_url",
        "configuration.notification_email",
        "configuration.plan",
        "configuration.colour",
    }
    assert "http(s) URL" in errors["configuration.system_url"]
    assert "email" in errors["configuration.notification_email"]
    assert "'{{'" in errors["configuration.plan"]
    assert "not a setting" in errors["configuration.colour"]
    assert problem["title"] == "Invalid template configuration"

    typed = assert_problem(
        await admin.post(
            "/api/v1/templates/inbound_triage/instantiate",
            json={"configuration": {"model": "", "response_days": "2", "sales_role": "a b"}},
        ),
        422,
    )
    assert set(_errors(typed)) == {
        "configuration.model",
        "configuration.response_days",
        "configuration.sales_role",
    }
    not_object = assert_problem(await admin.post(url, json={"configuration": ["system_url"]}), 422)
    assert _errors(not_object).keys() == {"configuration"}
    # Nothing was created by any refused request.
    listed = await admin.get("/api/v1/definitions")
    assert listed.json()["items"] == []


async def test_configuration_values_are_put_into_the_definition(stack: Stack) -> None:
    admin = stack.caller("admin")

    made = await admin.post(
        "/api/v1/templates/inbound_triage/instantiate?wait=true",
        json={
            "name": "Website triage",
            "configuration": {
                "model": "house-model-1",
                "sales_role": "closers",
                "response_days": 5,
            },
        },
    )

    assert made.status_code == 201, made.text
    definition = made.json()
    steps = {s["id"]: s for s in definition["steps"]}
    assert definition["name"] == "Website triage"
    assert steps["classify"]["config"]["model"] == "house-model-1"
    assert steps["sales_task"]["config"]["assign_to"] == "role:closers"
    assert steps["support_task"]["config"]["assign_to"] == "role:support"  # the default
    assert steps["sales_task"]["config"]["due_date"] == "{{now + 5 days}}"
    scoring = await admin.post(
        "/api/v1/templates/lead_scoring/instantiate?wait=true",
        json={"configuration": {"notification_email": "s@example.com", "hot_interest_count": 7}},
    )
    assert scoring.status_code == 201, scoring.text
    tier = next(s for s in scoring.json()["steps"] if s["id"] == "score")
    assert ">= `7`" in tier["config"]["expressions"]["tier"]
    assert ">= `500`" in tier["config"]["expressions"]["tier"]


async def test_only_admins_instantiate_and_an_unknown_template_is_404(stack: Stack) -> None:
    admin = stack.caller("admin")
    configuration = {"configuration": {"model": "m"}}
    refused = await admin.as_role("member").post(
        "/api/v1/templates/inbound_triage/instantiate", json=configuration
    )
    assert_problem(refused, 403)
    assert_problem(await admin.post("/api/v1/templates/nope/instantiate", json=configuration), 404)
    assert_problem(await admin.get("/api/v1/templates/nope"), 404)


# -- running them ------------------------------------------------------------------------------


async def test_account_provisioning_is_compensated_when_activation_fails(
    stack: Stack, accounts: AccountSystem
) -> None:
    admin = stack.caller("admin")
    definition = await _instantiate(
        admin,
        "account_provisioning",
        configuration={
            "system_url": accounts.url,
            "notification_email": "it@example.com",
            "plan": "team",
        },
    )
    accounts.activation_status = 409

    execution = await _start(
        admin,
        definition["id"],
        contact={"first_name": "Requester"},
        input={"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"},
    )

    assert execution["status"] == "compensated", execution
    assert "409" in execution["error"]
    assert timeline(execution) == [
        ("requested", "completed"),
        ("provisioning", "completed"),
        ("holder", "completed"),
        ("open_account", "completed"),
        ("activate", "failed"),
        ("open_account-undo", "completed"),
        ("holder-undo", "completed"),
    ]
    undo = {s["step_id"]: s for s in execution["steps"]}
    assert undo["open_account-undo"]["compensation_of"] == "open_account"
    assert undo["holder-undo"]["compensation_of"] == "holder"
    account_id = undo["open_account"]["output"]["body"]["id"]
    # The external system saw the account opened, refused its activation once (a 4xx is not
    # retried), then deleted it.
    assert accounts.accounts[account_id] == {
        "email": "grace@example.com",
        "plan": "team",
        "reference": execution["id"],
        "state": "deleted",
    }
    assert accounts.hits[f"POST /accounts/{account_id}/activate"] == 1
    assert accounts.hits[f"DELETE /accounts/{account_id}"] == 1
    # The account holder's contact was created and archived again; the requester is untouched.
    holder_id = undo["holder"]["output"]["contact"]["id"]
    holder = (await admin.get(f"/api/v1/contacts/{holder_id}")).json()
    assert (holder["email"], holder["archived"]) == ("grace@example.com", True)
    assert holder["archived_reason"] == f"provisioning of execution {execution['id']} was undone"
    assert holder["fields"]["plan"] == "team"
    requester = (await admin.get(f"/api/v1/contacts/{execution['contact_id']}")).json()
    assert requester["archived"] is False
    listed = await admin.get(
        "/api/v1/executions", params={"status": "compensated", "definition_id": definition["id"]}
    )
    assert [e["id"] for e in listed.json()["items"]] == [execution["id"]]


async def test_account_provisioning_completes_when_the_account_activates(
    stack: Stack, accounts: AccountSystem
) -> None:
    admin = stack.caller("admin")
    definition = await _instantiate(
        admin,
        "account_provisioning",
        configuration={"system_url": accounts.url, "notification_email": "it@example.com"},
    )
    accounts.activation_status = 200

    execution = await _start(
        admin,
        definition["id"],
        contact={"first_name": "Requester"},
        input={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    )

    assert execution["status"] == "completed", execution["error"]
    assert execution["ui_status"] == "provisioned"
    steps = {s["step_id"]: s for s in execution["steps"]}
    assert not any(s.get("compensation_of") for s in execution["steps"])
    account_id = steps["open_account"]["output"]["body"]["id"]
    assert accounts.accounts[account_id]["state"] == "active"
    assert accounts.accounts[account_id]["plan"] == "standard"  # the schema's default
    assert steps["notify"]["output"]["to"] == ["it@example.com"]
    holder = steps["holder"]["output"]["contact"]
    assert (await admin.get(f"/api/v1/contacts/{holder['id']}")).json()["archived"] is False


async def test_inbound_triage_classifies_a_submitted_form_and_routes_it(
    stack: Stack, chat: ChatServer
) -> None:
    admin = stack.caller("admin")
    definition = await _instantiate(
        admin,
        "inbound_triage",
        configuration={"model": "json", "triage_role": "frontdesk"},
    )
    form = json.dumps(
        {"name": "Grace", "email": "grace@example.com", "message": "My invoice is wrong"}
    ).encode()

    delivered = await stack.client.post(
        f"/webhooks/{definition['id']}",
        content=form,
        headers={
            "Content-Type": "application/json",
            "X-Byte-Signature": sign(definition["webhook_secret"], int(time.time()), form),
        },
    )

    assert delivered.status_code == 202, delivered.text
    execution = await ended(admin, delivered.json()["id"])
    assert execution["status"] == "completed", execution["error"]
    # The stand-in model answers {"category": "billing"}: neither sales nor support.
    assert timeline(execution) == [
        ("received", "completed"),
        ("classify", "completed"),
        ("route", "completed"),
        ("mark_other", "completed"),
        ("triage_task", "completed"),
    ]
    assert execution["ui_status"] == "other"
    (sent,) = [r for r in chat.of_model("json") if "My invoice is wrong" in str(r["body"])]
    assert sent["body"]["response_format"] == {"type": "json_object"}
    deadline = time.monotonic() + 10
    while not (
        tasks := (await admin.get(f"/api/v1/tasks?execution_id={execution['id']}")).json()["items"]
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    (task,) = tasks
    assert task["assigned_to"] == "role:frontdesk"
    assert task["title"] == "Triage the message from Grace"


@pytest.mark.parametrize(
    ("lead", "tier", "path"),
    [
        (
            {"employees": "750", "interests": ["crm"]},
            "hot",
            ["lead", "score", "record_score", "route", "hot", "call", "tell_sales"],
        ),
        (
            {"employees": 20, "interests": ["crm", "billing", "chat"]},
            "hot",
            ["lead", "score", "record_score", "route", "hot", "call", "tell_sales"],
        ),
        (
            {"employees": "a few", "interests": "crm"},
            "nurture",
            ["lead", "score", "record_score", "route", "nurture"],
        ),
    ],
)
async def test_lead_scoring_rates_a_delivered_lead_with_its_transform(
    stack: Stack, lead: dict[str, Any], tier: str, path: list[str]
) -> None:
    admin = stack.caller("admin")
    definition = await _instantiate(
        admin, "lead_scoring", configuration={"notification_email": "sales@example.com"}
    )
    body = json.dumps({"first_name": "Ada", "email": "ada@example.com", **lead}).encode()

    delivered = await stack.client.post(
        f"/webhooks/{definition['id']}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Byte-Signature": sign(definition["webhook_secret"], int(time.time()), body),
        },
    )

    assert delivered.status_code == 202, delivered.text
    execution = await ended(admin, delivered.json()["id"])
    assert execution["status"] == "completed", execution["error"]
    assert [step_id for step_id, _ in timeline(execution)] == path
    assert execution["ui_status"] == tier
    contact = (await admin.get(f"/api/v1/contacts/{execution['contact_id']}")).json()
    assert contact["fields"]["lead_tier"] == tier
    if tier == "hot":
        (email,) = [s for s in execution["steps"] if s["step_id"] == "tell_sales"]
        assert email["output"]["to"] == ["sales@example.com"]
