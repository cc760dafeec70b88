"""Signing in to the console: development sign-in, pasted tokens, expired and invalid ones,
signing out, and the development token route's refusal outside development."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from interfaces.settings import DEV_JWT_SECRET
from tests.browser.conftest import Stack, screenshot, sign_in, wait_for


def test_development_sign_in_picks_org_role_and_user(browser: Any, stack: Stack, org: str) -> None:
    browser.get(f"{stack.base}/console/executions")
    form = wait_for(browser, "#dev-sign-in")
    assert "/console/sign-in" in browser.current_url
    screenshot(browser, "sign-in")
    org_input = form.find_element("css selector", "input[name=org]")
    org_input.clear()
    org_input.send_keys(org)
    form.find_element("css selector", "select[name=role] option[value=viewer]").click()
    user = form.find_element("css selector", "input[name=user]")
    user.clear()
    user.send_keys("vera")
    form.find_element("css selector", "button[type=submit]").click()
    # Back where the user was going, signed in as who they picked.
    wait_for(browser, "h1", "Executions")
    assert browser.current_url.endswith("/console/executions")
    assert wait_for(browser, "[data-testid=whoami]").text == f"vera · {org} · viewer"
    browser.find_element("css selector", "#sign-out").click()
    assert wait_for(browser, "#session-reason").get_attribute("data-reason") == "signed-out"
    assert wait_for(browser, "h1").text == "You are signed out"


def test_an_expired_token_shows_the_expired_page(browser: Any, stack: Stack, org: str) -> None:
    now = int(time.time())
    # Expired two minutes ago (the API tolerates 30 s of clock skew).
    claims = {"sub": "ed", "org_id": org, "org_role": "member", "iat": now - 600, "exp": now - 120}
    expired = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
    # The API refuses it...
    answer = httpx.get(
        f"{stack.base}/api/v1/me/tasks", headers={"Authorization": f"Bearer {expired}"}
    )
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    # ... and the console says why, and offers to sign in again, coming back to the same page.
    sign_in(browser, stack, expired, "/executions")
    reason = wait_for(browser, "#session-reason")
    assert reason.get_attribute("data-reason") == "expired"
    assert wait_for(browser, "h1").text == "Your session has expired"
    assert "next=%2Fexecutions" in browser.current_url
    screenshot(browser, "session-expired")


def test_a_pasted_token_signs_in_and_a_refused_one_says_why(
    browser: Any, stack: Stack, org: str
) -> None:
    browser.get(f"{stack.base}/console/sign-in")
    pasted = wait_for(browser, "textarea[name=token]")
    pasted.send_keys(stack.token(org, "owner", "olga"))
    browser.find_element("css selector", "#paste-sign-in").click()
    assert wait_for(browser, "[data-testid=whoami]").text == f"olga · {org} · owner"
    wait_for(browser, "h1", "My work")

    # A token signed with another secret: the API answers 401, the console says so.
    forged = jwt.encode(
        {"sub": "olga", "org_id": org, "org_role": "owner", "exp": int(time.time()) + 600},
        "not-the-server-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    browser.allowed_errors = ("status of 401",)
    sign_in(browser, stack, forged, "/executions")
    assert wait_for(browser, "#session-reason").get_attribute("data-reason") == "invalid"
    assert wait_for(browser, "h1").text == "Your token is not valid"
    # Pasting it is refused on the spot, with the API's reason.
    wait_for(browser, "textarea[name=token]").send_keys(forged)
    browser.find_element("css selector", "#paste-sign-in").click()
    assert "signature" in wait_for(browser, "#sign-in-problem .problem").text
    assert "/console/sign-in" in browser.current_url
