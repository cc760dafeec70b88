"""A dry run reads like the real execution it rehearses: secrets referenced by a step are named
with whether the org has them (a missing one fails the step as a real run would; a value is
never read or shown), and steps inside `parallel` branches and `for_each` iterations carry the
`within` markers of GET /executions/{id}'s timeline."""

from __future__ import annotations

from typing import Any

from tests.integration.api.conftest import Stack
from tests.integration.api.support import assert_problem, error_fields
from tests.integration.engine.over_http.support import activate, body, run, step

PATH = "/api/v1/definitions/dry-run"
URL = "https://crm.example.com/contacts?key={{secrets.CRM_KEY}}"
VALUE = "sk-live-8d1f0c2b9e7a4d3c"


def _crm_call() -> dict[str, Any]:
    return body(
        step(
            "call",
            "http_request",
            method="GET",
            url=URL,
            headers={"Authorization": "Bearer {{secrets.CRM_TOKEN}}"},
            retries=0,
        ),
        step("note", "transform", expressions={"id": "call.body.id"}),
    )


async def test_a_set_secret_is_named_its_call_is_answered_and_no_value_shows(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    for name in ("CRM_KEY", "CRM_TOKEN"):
        put = await admin.put(f"/api/v1/secrets/{name}", json={"value": VALUE})
        assert put.status_code == 200, put.text

    response = await admin.post(
        PATH,
        json={"definition": _crm_call(), "http": {URL: {"status_code": 200, "body": {"id": 7}}}},
    )

    assert response.status_code == 200, response.text
    run_ = response.json()
    assert (run_["outcome"], run_["status"], run_["error"]) == ("ended", "completed", None)
    assert run_["secrets"] == [
        {"step_id": "call", "name": "CRM_KEY", "set": True},
        {"step_id": "call", "name": "CRM_TOKEN", "set": True},
    ]
    # The script keyed by the URL as the definition writes it answered the call.
    note = next(s for s in run_["steps"] if s["step_id"] == "note")
    assert note["output"] == {"id": 7}
    (call,) = run_["http_requests"]
    assert (call["url"], call["status_code"]) == (URL, 200)
    assert VALUE not in response.text


async def test_a_secret_the_org_has_not_set_fails_the_step_as_a_real_run_would(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    put = await admin.put("/api/v1/secrets/CRM_TOKEN", json={"value": VALUE})
    assert put.status_code == 200, put.text

    run_ = (await admin.post(PATH, json={"definition": _crm_call()})).json()

    assert run_["secrets"] == [
        {"step_id": "call", "name": "CRM_KEY", "set": False},
        {"step_id": "call", "name": "CRM_TOKEN", "set": True},
    ]
    assert (run_["outcome"], run_["status"]) == ("ended", "failed")
    call = next(s for s in run_["steps"] if s["step_id"] == "call")
    assert call["status"] == "failed"
    assert (
        "The call cannot be made: the secret CRM_KEY is not set for this org: set it with "
        "PUT /api/v1/secrets/<name>." in call["error"]
    )
    assert "CRM_KEY is not set" in run_["error"]
    assert run_["http_requests"] == []  # nothing would be sent
    assert "note" not in [s["step_id"] for s in run_["steps"]]


async def test_secrets_in_another_org_do_not_count_as_set(stack: Stack) -> None:
    other = stack.caller("admin")
    assert (await other.put("/api/v1/secrets/CRM_KEY", json={"value": VALUE})).status_code == 200

    run_ = (await stack.caller("owner").post(PATH, json={"definition": _crm_call()})).json()

    assert [s["set"] for s in run_["secrets"]] == [False, False]
    assert run_["status"] == "failed"


async def test_what_a_definition_may_never_say_of_secrets_is_refused_as_on_create(
    stack: Stack,
) -> None:
    """Unset secrets are reported (above), but a reference where no call sends it and a
    credential written inline are refused, naming the field, as POST /definitions refuses them."""
    admin = stack.caller("admin")
    misplaced = body(
        step("assign", "assign_task", title="Call {{secrets.CRM_KEY}}", assign_to="role:admin"),
    )
    inline = body(
        step(
            "call",
            "http_request",
            method="GET",
            url="https://crm.example.com/contacts",
            headers={"Authorization": "Bearer sk-live-written-out"},
        ),
    )
    for definition, field in (
        (misplaced, "definition.steps[1].config.title"),
        (inline, "definition.steps[1].config.headers.Authorization"),
    ):
        problem = assert_problem(await admin.post(PATH, json={"definition": definition}), 422)
        assert field in error_fields(problem), problem
        created = await admin.post("/api/v1/definitions", json=definition)
        assert created.status_code == 422, created.text


def _containers() -> dict[str, Any]:
    return body(
        {
            "id": "reviews",
            "type": "parallel",
            "name": "Reviews",
            "config": {
                "join": "all",
                "branches": [
                    {
                        "name": "legal",
                        "steps": [step("legal_note", "transform", expressions={"b": "`1`"})],
                    },
                    {
                        "name": "finance",
                        "steps": [step("finance_note", "transform", expressions={"b": "`2`"})],
                    },
                ],
            },
        },
        {
            "id": "each_doc",
            "type": "for_each",
            "name": "Each document",
            "config": {
                "items": "{{input.documents}}",
                "steps": [step("check", "transform", expressions={"name": "loop.item.name"})],
            },
        },
    )


def _markers(steps: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return sorted(
        (s["step_id"], s["status"], repr(sorted((s.get("within") or {}).items()))) for s in steps
    )


async def test_the_dry_run_timeline_marks_branches_and_iterations_like_a_real_one(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    documents = [{"name": "Passport"}, {"name": "Contract"}]
    definition_id = await activate(admin, _containers())

    real = await run(admin, definition_id, input={"documents": documents})
    rehearsal = (
        await admin.post(
            PATH, json={"definition_id": definition_id, "input": {"documents": documents}}
        )
    ).json()

    assert real["status"] == rehearsal["status"] == "completed", rehearsal

    checks = [s["within"] for s in rehearsal["steps"] if s["step_id"] == "check"]
    assert checks == [
        {"step_id": "each_doc", "iteration": i, "item": d} for i, d in enumerate(documents)
    ]
    branches = {
        s["step_id"]: s["within"] for s in rehearsal["steps"] if s["step_id"].endswith("_note")
    }
    assert branches == {
        "legal_note": {"step_id": "reviews", "branch": "legal"},
        "finance_note": {"step_id": "reviews", "branch": "finance"},
    }
    assert "within" not in next(s for s in rehearsal["steps"] if s["step_id"] == "reviews")
    assert _markers(rehearsal["steps"]) == _markers(real["steps"])


async def test_references_inside_branches_and_loops_are_named_by_their_own_step(
    stack: Stack,
) -> None:
    admin = stack.caller("admin")
    assert (await admin.put("/api/v1/secrets/CRM_KEY", json={"value": VALUE})).status_code == 200
    definition = body(
        {
            "id": "both",
            "type": "parallel",
            "name": "Both",
            "config": {
                "branches": [
                    {
                        "name": "crm",
                        "steps": [step("crm_call", "http_request", method="GET", url=URL)],
                    },
                    {
                        "name": "erp",
                        "steps": [
                            step(
                                "erp_call",
                                "http_request",
                                method="GET",
                                url="https://erp.example.com/?t={{secrets.ERP_KEY}}",
                                retries=0,
                            )
                        ],
                    },
                ]
            },
        },
    )

    response = await admin.post(PATH, json={"definition": definition})

    assert response.status_code == 200, response.text
    run_ = response.json()
    assert run_["secrets"] == [
        {"step_id": "crm_call", "name": "CRM_KEY", "set": True},
        {"step_id": "erp_call", "name": "ERP_KEY", "set": False},
    ]
    steps = {s["step_id"]: s for s in run_["steps"]}
    assert steps["crm_call"]["status"] == "completed"
    assert steps["crm_call"]["within"] == {"step_id": "both", "branch": "crm"}
    assert steps["erp_call"]["status"] == "failed"
    assert "the secret ERP_KEY is not set for this org" in steps["erp_call"]["error"]
    assert run_["status"] == "failed"
