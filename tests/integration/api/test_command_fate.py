"""A command's fate is always knowable, and one that failed is not lost (issue 10).

Every 202 points at ``GET /api/v1/commands/{workflow_id}`` (``Location`` and ``status_url``),
which answers pending, succeeded (with the resource) or failed (with the problem), for the
caller's org only. A command whose workflow failed for a reason that is not a refusal (all its
attempts failed during a long Postgres outage) runs again when its client resends it with the
same Idempotency-Key, instead of answering ``500 command-failed`` forever, and appends nothing
twice.

The stack is the API tests' one (real Postgres, the Temporal dev server, the real worker and
projector), with one fault added to the worker: for an org the test names, an activity's work
commits and then the activity fails non-retryably, as the last of its attempts does when the
connection drops after the commit and the outage outlasts the retry window.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from application.bundle import build_services
from application.delivery.outbound import ALLOW_LOOPBACK
from application.errors import ConcurrencyError
from interfaces.api import create_app
from tests.integration.api.conftest import Stack, api_settings, serving
from tests.integration.api.support import Caller, assert_problem, events_of
from worker.commands import CreateContact
from worker.contracts import (
    CONTACT_COMMAND_WORKFLOW,
    NAMED_SIGNAL,
    CommandMeta,
    CommandResult,
    ExecutionResult,
    NamedSignal,
)
from worker.main import build_worker
from worker.starts import Origin, execution_input, start_execution

ENDED = ("completed", "failed", "cancelled", "timed_out")
SIGNAL_DEFINITION: dict[str, Any] = {
    "name": "Waits for a signal",
    "statuses": [],
    "steps": [
        {"id": "start", "type": "trigger", "name": "Start", "config": {"type": "manual"}},
        {"id": "hear", "type": "wait_for_signal", "name": "Hear", "config": {"signal": "go"}},
    ],
}


class FailAfterCommit(Interceptor):
    """For the orgs in `orgs`: the next activity does its work (its events commit), then fails
    for good with a dropped connection. For the orgs in `conflicts`: the next activity loses
    every race with concurrent writers, as the service reports it after its own attempts. Each
    org is failed once."""

    def __init__(self) -> None:
        self.orgs: set[str] = set()
        self.conflicts: set[str] = set()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailAfterCommit(next, self)


class _FailAfterCommit(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, faults: FailAfterCommit) -> None:
        super().__init__(next)
        self._faults = faults

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        org = _org(input.args)
        if org in self._faults.conflicts:
            self._faults.conflicts.discard(org)
            raise ConcurrencyError("command kept conflicting with concurrent changes; try again")
        result = await self.next.execute_activity(input)
        if org in self._faults.orgs:
            self._faults.orgs.discard(org)
            raise ApplicationError(
                "server closed the connection unexpectedly",
                type="OperationalError",
                non_retryable=True,
            )
        return result


def _org(args: Sequence[Any]) -> str | None:
    for arg in args:
        meta = getattr(arg, "meta", None)
        if isinstance(meta, CommandMeta):
            return meta.org_id
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def faults() -> FailAfterCommit:
    return FailAfterCommit()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_env: WorkflowEnvironment,
    module_database_url: str,
    projector_running: None,
    faults: FailAfterCommit,
) -> AsyncIterator[Stack]:
    task_queue = f"fate-{uuid.uuid4().hex[:10]}"
    services = build_services(module_database_url)
    client = temporal_env.client
    app = create_app(api_settings(module_database_url, task_queue), temporal_client=client)
    try:
        async with (
            build_worker(
                client, services, task_queue, interceptors=[faults], outbound=ALLOW_LOOPBACK
            ),
            serving(app) as http,
        ):
            yield Stack(app, http, module_database_url, task_queue, services)
    finally:
        services.close()


async def _fate(caller: Caller, url: str, *, until: str | None = None) -> dict[str, Any]:
    """The command's status; with `until`, polled (a few seconds at most) until it says so."""
    for _ in range(100):
        response = await caller.get(url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if until is None or body["status"] == until:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the command never became {until}: {body}")


async def _eventually_ended(caller: Caller, url: str) -> dict[str, Any]:
    """The execution as the read side shows it once it has ended (the projector follows)."""
    for _ in range(100):
        response = await caller.get(url)
        if response.status_code == 200 and response.json()["status"] in ENDED:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never showed the execution ended: {response.text}")


async def _signal_definition(stack: Stack, org: str) -> str:
    admin = stack.caller("admin", org=org)
    created = await admin.post("/api/v1/definitions?wait=true", json=SIGNAL_DEFINITION)
    assert created.status_code == 201, created.text
    definition_id = str(created.json()["id"])
    activated = await admin.post(f"/api/v1/definitions/{definition_id}/activate?wait=true")
    assert activated.status_code == 200, activated.text
    return definition_id


async def test_a_202_points_at_the_commands_status_which_names_the_resource(
    stack: Stack,
) -> None:
    caller = stack.caller("member")

    accepted = await caller.post("/api/v1/contacts", json={"first_name": "Ada"})

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    status_url = f"/api/v1/commands/{body['workflow_id']}"
    assert body["status_url"] == status_url
    assert accepted.headers["Location"] == status_url
    fate = await _fate(caller, status_url, until="succeeded")
    assert fate == {
        "workflow_id": body["workflow_id"],
        "status": "succeeded",
        "resource": {
            "type": "contact",
            "id": body["id"],
            "url": f"/api/v1/contacts/{body['id']}",
        },
        "problem": None,
    }
    assert (await caller.get(fate["resource"]["url"])).status_code == 200


async def test_an_execution_is_pending_while_it_runs_and_succeeded_once_it_ends(
    stack: Stack,
) -> None:
    member = stack.caller("member")
    definition_id = await _signal_definition(stack, member.org)

    started = await member.post("/api/v1/executions", json={"definition_id": definition_id})

    assert started.status_code == 202, started.text
    status_url = started.json()["status_url"]
    assert started.headers["Location"] == status_url
    pending = await _fate(member, status_url)
    assert pending["status"] == "pending"
    assert pending["resource"] is None and pending["problem"] is None

    # The execution waits for its signal: send it, and it ends.
    workflow = stack.app.state.api.require_temporal().get_workflow_handle(
        started.json()["workflow_id"], result_type=ExecutionResult
    )
    await workflow.signal(NAMED_SIGNAL, NamedSignal(name="go"))
    done = await _fate(member, status_url, until="succeeded")
    execution_id = started.json()["id"]
    assert done["resource"] == {
        "type": "execution",
        "id": execution_id,
        "url": f"/api/v1/executions/{execution_id}",
    }


async def test_a_refused_command_is_failed_with_the_problem_its_caller_got(
    stack: Stack,
) -> None:
    caller = stack.caller("member")
    missing = str(uuid.uuid4())

    refused = await caller.patch(f"/api/v1/tasks/{missing}", json={"status": "done"})

    problem = assert_problem(refused, 404)
    fate = await _fate(caller, f"/api/v1/commands/{problem['workflow_id']}")
    assert fate["status"] == "failed"
    assert fate["resource"] is None
    assert fate["problem"]["status"] == 404
    assert fate["problem"]["type"] == problem["type"]
    assert fate["problem"]["detail"] == problem["detail"]
    assert fate["problem"]["title"]


async def test_only_the_commands_org_sees_it_and_every_role_of_that_org_does(
    stack: Stack,
) -> None:
    member = stack.caller("member")
    accepted = await member.post("/api/v1/contacts", json={"first_name": "Grace"})
    status_url = accepted.json()["status_url"]

    viewer = member.as_role("viewer")
    stranger = stack.caller("owner")

    assert (await viewer.get(status_url)).status_code == 200
    assert_problem(await stranger.get(status_url), 404)
    assert_problem(await member.get(f"/api/v1/commands/contact-create-{uuid.uuid4()}"), 404)
    assert_problem(await member.get("/api/v1/commands/not a workflow id"), 404)
    assert_problem(await stack.client.get(status_url), 401)


async def test_another_orgs_execution_is_not_found_either(stack: Stack) -> None:
    owner = stack.caller("member")
    definition_id = await _signal_definition(stack, owner.org)
    started = await owner.post("/api/v1/executions", json={"definition_id": definition_id})
    workflow_id = started.json()["workflow_id"]
    assert workflow_id.startswith("execution-")

    assert_problem(await stack.caller("admin").get(f"/api/v1/commands/{workflow_id}"), 404)
    assert (await owner.get(f"/api/v1/commands/{workflow_id}")).status_code == 200


async def test_a_command_that_failed_runs_again_when_resent_with_its_key_and_appends_once(
    stack: Stack, faults: FailAfterCommit
) -> None:
    caller = stack.caller("member")
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"first_name": "Margaret", "last_name": "Hamilton"}
    faults.orgs.add(caller.org)

    first = await caller.post("/api/v1/contacts", json=body, headers=key)

    failed = assert_problem(first, 500)
    assert failed["type"] == "/problems/command-failed"
    status_url = f"/api/v1/commands/{failed['workflow_id']}"
    fate = await _fate(caller, status_url)
    assert fate["status"] == "failed"
    assert fate["problem"]["status"] == 500
    assert fate["problem"]["workflow_status"] == "failed"

    again = await caller.post("/api/v1/contacts?wait=true", json=body, headers=key)

    assert again.status_code == 201, again.text
    contact = again.json()
    assert (contact["first_name"], contact["last_name"]) == ("Margaret", "Hamilton")
    assert again.headers["X-Workflow-Id"] == failed["workflow_id"]
    # The failed run had appended the contact; the second one recognised its command.
    assert [e["event_type"] for e in events_of(stack.database_url, contact["id"])] == [
        "Contact.Created"
    ]
    assert (await _fate(caller, status_url))["status"] == "succeeded"
    # A third copy attaches to the completed run: same contact, nothing appended.
    third = await caller.post("/api/v1/contacts", json=body, headers=key)
    assert third.status_code == 202, third.text
    assert third.json()["id"] == contact["id"]
    assert len(events_of(stack.database_url, contact["id"])) == 1


async def test_a_refusal_stands_when_the_command_is_resent_with_its_key(stack: Stack) -> None:
    """A refusal is the command's answer: resending gets it again, it does not run again."""
    caller = stack.caller("member")
    key = {"Idempotency-Key": f"complete-{uuid.uuid4()}"}
    missing = str(uuid.uuid4())

    first = assert_problem(
        await caller.patch(f"/api/v1/tasks/{missing}", json={"status": "done"}, headers=key), 404
    )
    again = assert_problem(
        await caller.patch(f"/api/v1/tasks/{missing}", json={"status": "done"}, headers=key), 404
    )

    assert again["workflow_id"] == first["workflow_id"]
    temporal = stack.app.state.api.require_temporal()
    runs = [run async for run in temporal.list_workflows(f"WorkflowId = '{first['workflow_id']}'")]
    assert len(runs) == 1


async def test_a_command_started_without_the_org_in_its_memo_is_found_by_its_input(
    stack: Stack,
) -> None:
    """Workflows an older API started carry no memo: their org comes from the command's own
    metadata, so they stay as private as the others."""
    caller = stack.caller("member")
    contact_id = str(uuid.uuid4())
    workflow_id = f"contact-create-{contact_id}"
    temporal = stack.app.state.api.require_temporal()
    await temporal.execute_workflow(
        CONTACT_COMMAND_WORKFLOW,
        CreateContact(meta=CommandMeta(org_id=caller.org), contact_id=contact_id, first_name="Al"),
        id=workflow_id,
        task_queue=stack.task_queue,
        result_type=CommandResult,
    )

    fate = await _fate(caller, f"/api/v1/commands/{workflow_id}")

    assert fate["status"] == "succeeded"
    assert fate["resource"] == {
        "type": "contact",
        "id": contact_id,
        "url": f"/api/v1/contacts/{contact_id}",
    }
    assert_problem(await stack.caller("member").get(f"/api/v1/commands/{workflow_id}"), 404)


async def test_an_execution_whose_payload_cannot_be_stored_is_failed_in_the_read_model(
    stack: Stack,
) -> None:
    """Issue 10, item 6: such an execution used to retry its first record forever, with
    nothing in any read model. Started here as a record trigger or a schedule would start it
    (the webhook route now refuses such a payload at the door)."""
    member = stack.caller("member")
    definition_id = await _signal_definition(stack, member.org)
    definition = (await member.get(f"/api/v1/definitions/{definition_id}")).json()
    origin = Origin("trigger", scope=definition_id, key=str(uuid.uuid4()))
    execution = execution_input(
        meta=CommandMeta(org_id=member.org, actor=f"trigger:{definition_id}", source="trigger"),
        execution_id=origin.execution_id(),
        definition_id=definition_id,
        definition_version=int(definition["definition_version"]),
        definition=definition,
        trigger={"type": "manual"},
        payload={"note": "first\x00second"},
    )
    temporal = stack.app.state.api.require_temporal()
    started = await start_execution(temporal, stack.task_queue, execution, origin)

    fate = await _fate(member, f"/api/v1/commands/{started.workflow_id}", until="succeeded")
    shown = await _eventually_ended(member, fate["resource"]["url"])

    assert shown["status"] == "failed"
    assert shown["error"].startswith("The execution could not be recorded: ")
    assert "cannot be stored" in shown["error"]


async def test_a_conflict_found_only_by_the_worker_is_a_409_for_a_waiting_caller(
    stack: Stack, faults: FailAfterCommit
) -> None:
    """It used to be retried ten times (about 45 s), so `?wait=true` answered 504."""
    caller = stack.caller("member")
    created = await caller.post("/api/v1/contacts?wait=true", json={"first_name": "Ada"})
    contact_id = created.json()["id"]
    faults.conflicts.add(caller.org)

    response = await caller.patch(
        f"/api/v1/contacts/{contact_id}?wait=true&wait_timeout=10", json={"last_name": "King"}
    )

    problem = assert_problem(response, 409)
    assert "try again" in problem["detail"]
    fate = await _fate(caller, f"/api/v1/commands/{problem['workflow_id']}")
    assert fate["status"] == "failed"
    assert fate["problem"]["status"] == 409
