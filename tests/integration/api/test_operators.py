"""Platform operators apart from org admins: the tools that span every org are the operators';
an org's admins see their org's share of them, or are refused.

Before operators existed, any org's admin saw every org's event count and head hash in
``/audit/verify``, global positions in ``/admin/projections``, and could rebuild a projection
of every org.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import psycopg
import pytest

from interfaces.api.auth import OperatorPolicy, TokenVerifier
from interfaces.cli import main as bytedash
from projections.chain import seal
from tests.integration.api.conftest import Stack
from tests.integration.api.support import SECRET, Caller, assert_problem, new_org


def operator_of(stack: Stack, org: str | None = None) -> Caller:
    return Caller(stack.client, org or new_org(), "viewer", "ops-1", operator=True)


async def _events_of(caller: Caller) -> list[dict[str, object]]:
    listed = await caller.get("/api/v1/events?limit=200")
    assert listed.status_code == 200, listed.text
    items: list[dict[str, object]] = listed.json()["items"]
    return items


async def _two_orgs_with_events(stack: Stack) -> tuple[Caller, Caller]:
    """Two orgs' admins, each org with contacts of its own (the second created last)."""
    first, second = stack.caller("admin"), stack.caller("admin")
    for caller, names in ((first, ("Ann", "Bob", "Cy")), (second, ("Dee",))):
        for name in names:
            made = await caller.post("/api/v1/contacts?wait=true", json={"first_name": name})
            assert made.status_code == 201, made.text
    return first, second


def _seal(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        seal(conn)


async def _verified_up_to(stack: Stack, caller: Caller, position: int) -> dict[str, Any]:
    """The operator's report once the chain covers `position` (sealing trails appends: seal
    here too, whether or not a sealer runs beside the test)."""
    deadline = time.monotonic() + 20
    while True:
        await asyncio.to_thread(_seal, stack.database_url)
        verified = await caller.get("/api/v1/audit/verify")
        assert verified.status_code == 200, verified.text
        report: dict[str, Any] = verified.json()
        if report["head"] >= position:
            return report
        assert time.monotonic() < deadline, report
        await asyncio.sleep(0.2)


async def test_an_org_admin_verifies_only_their_own_share_of_the_store(stack: Stack) -> None:
    first, second = await _two_orgs_with_events(stack)
    own = await _events_of(first)
    later = max(int(str(e["position"])) for e in await _events_of(second))
    whole = await _verified_up_to(stack, operator_of(stack), later)

    verified = await first.get("/api/v1/audit/verify")

    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["scope"] == "org"
    assert body["ok"] is True
    assert body["checked"] == len(own)  # their events, not the store's
    assert body["head"] == max(int(str(e["position"])) for e in own)
    assert body["head_hash"] is None
    assert body["unsealed"] == 0
    # The other org's later events are nowhere in the answer.
    assert body["head"] < later

    assert whole["scope"] == "store"
    assert whole["checked"] > body["checked"]
    assert isinstance(whole["head_hash"], str)

    assert_problem(await first.as_role("member").get("/api/v1/audit/verify"), 403)


async def test_an_org_admin_sees_projection_status_without_global_positions(
    stack: Stack,
) -> None:
    first, second = await _two_orgs_with_events(stack)
    own_head = max(int(str(e["position"])) for e in await _events_of(first))
    store_head = max(int(str(e["position"])) for e in await _events_of(second))

    listed = await first.get("/api/v1/admin/projections")

    assert listed.status_code == 200, listed.text
    items = {item["name"]: item for item in listed.json()["items"]}
    contacts = items["contacts"]
    assert contacts["scope"] == "org"
    assert contacts["head"] == own_head
    assert contacts["position"] == own_head  # caught up: ?wait=true saw every contact
    assert contacts["lag_events"] == 0
    assert contacts["last_error"] is None
    for item in items.values():
        assert item["head"] <= own_head < store_head
    one = await first.get("/api/v1/admin/projections/contacts")
    assert one.status_code == 200, one.text
    assert one.json()["head"] == own_head

    whole = await operator_of(stack).get("/api/v1/admin/projections")
    assert whole.status_code == 200, whole.text
    store_items = {item["name"]: item for item in whole.json()["items"]}
    assert store_items["contacts"]["scope"] == "store"
    assert store_items["contacts"]["head"] >= store_head

    assert_problem(await first.as_role("member").get("/api/v1/admin/projections"), 403)


async def test_only_operators_may_rebuild_a_projection(stack: Stack) -> None:
    for role in ("admin", "owner"):
        refused = await stack.caller(role).post("/api/v1/admin/projections/contacts/rebuild")
        problem = assert_problem(refused, 403)
        assert "operator" in problem["detail"]

    accepted = await operator_of(stack).post("/api/v1/admin/projections/contacts/rebuild")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["projection"] == "contacts"


async def test_an_operator_acts_in_an_org_with_their_org_role_only(stack: Stack) -> None:
    """Being an operator opens the global tooling, not other powers in an org's data."""
    viewer_operator = operator_of(stack)
    refused = await viewer_operator.post("/api/v1/contacts", json={"first_name": "X"})
    assert_problem(refused, 403)
    assert (await viewer_operator.get("/api/v1/contacts")).status_code == 200


async def test_bytedash_token_mints_an_operator_token(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    for name in ("AUTH_JWKS_URL", "BYTEDASH_ENV", "AUTH_OPERATOR_CLAIM", "AUTH_OPERATOR_SUBJECTS"):
        monkeypatch.delenv(name, raising=False)
    org = new_org()

    assert bytedash(["token", "--org", org, "--role", "viewer", "--operator"]) == 0
    operator_token = capsys.readouterr().out.strip()
    assert bytedash(["token", "--org", org, "--role", "admin"]) == 0
    admin_token = capsys.readouterr().out.strip()

    as_operator = await stack.client.get(
        "/api/v1/audit/verify", headers={"Authorization": f"Bearer {operator_token}"}
    )
    as_admin = await stack.client.get(
        "/api/v1/audit/verify", headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert as_operator.status_code == 200, as_operator.text
    assert as_operator.json()["scope"] == "store"
    assert as_admin.json()["scope"] == "org"


def _token(**claims: object) -> str:
    base: dict[str, object] = {
        "sub": "someone",
        "org_id": "org_x",
        "org_role": "admin",
        "exp": int(time.time()) + 60,
    }
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def test_operators_are_named_by_the_configured_claim_or_subjects() -> None:
    """The claim real identity providers issue: Keycloak's realm roles, Auth0's permissions,
    Azure AD's app roles, an OAuth scope string; or a list of subjects for any provider."""
    default = TokenVerifier(secret=SECRET)
    keycloak = TokenVerifier(
        secret=SECRET,
        operators=OperatorPolicy(claim="realm_access.roles", value="platform-operator"),
    )
    scoped = TokenVerifier(secret=SECRET, operators=OperatorPolicy(claim="scope", value="ops"))
    by_subject = TokenVerifier(
        secret=SECRET, operators=OperatorPolicy(claim=None, subjects=frozenset({"ops-1"}))
    )

    assert default.verify(_token(roles=["bytedash:operator"])).operator
    assert not default.verify(_token(roles=["admin"])).operator
    assert not default.verify(_token(org_role="owner")).operator
    assert not default.verify(_token(roles="bytedash:operators")).operator
    assert keycloak.verify(_token(realm_access={"roles": ["platform-operator"]})).operator
    assert not keycloak.verify(_token(roles=["bytedash:operator"])).operator
    assert scoped.verify(_token(scope="read ops write")).operator
    assert not scoped.verify(_token(scope="read opsx")).operator
    assert by_subject.verify(_token(sub="ops-1")).operator
    assert not by_subject.verify(_token(sub="ops-2", roles=["bytedash:operator"])).operator
