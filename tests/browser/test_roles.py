"""A viewer reads everything a member reads, but is offered no action their role forbids, and
the API refuses those actions to them anyway; a page for other roles says so."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Stack, sign_in, wait_for
from tests.browser.flows import start_onboarding


def test_a_viewer_sees_no_action_their_role_forbids(browser: Any, stack: Stack, org: str) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    flow = start_onboarding(admin, "Vic")
    viewer_token = stack.token(org, "viewer", "vera")

    # The same role's task and execution, as a member sees them: actions offered.
    sign_in(browser, stack, stack.token(org, "member", "rita"), f"/executions/{flow.execution_id}")
    wait_for(browser, "#signal-form")
    wait_for(browser, "#cancel-form")

    # A viewer sees their role's task, with no way to change it...
    task = admin.post(
        "/tasks",
        params={"wait": "true"},
        json={"title": "Read the onboarding audit", "assigned_to": "role:viewer"},
    ).json()
    sign_in(browser, stack, viewer_token)
    row = wait_for(browser, f"tr[data-task-id='{task['id']}']")
    assert "Read the onboarding audit" in row.text
    assert not browser.find_elements(By.CSS_SELECTOR, "form.complete-task, main table button")
    assert "can read tasks but not change them" in wait_for(browser, "main").text
    viewer = stack.api(viewer_token)
    # ... the execution, with no signal, cancel or retry, and a sentence saying why.
    sign_in(browser, stack, viewer_token, f"/executions/{flow.execution_id}")
    note = wait_for(browser, "#no-actions")
    assert "viewer" in note.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#signal-form, #cancel-form, #retry-form")
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")

    # The API refuses the same actions to the same token.
    for answer in (
        viewer.post(f"/executions/{flow.execution_id}/cancel", json={"reason": "no"}),
        viewer.post(f"/executions/{flow.execution_id}/signals/go", json={}),
        viewer.post(f"/executions/{flow.execution_id}/retry", json={}),
        viewer.patch(f"/tasks/{flow.task['id']}", json={"status": "done"}),
        viewer.patch(f"/tasks/{task['id']}", json={"status": "done"}),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert admin.get(f"/executions/{flow.execution_id}").json()["status"] == "waiting"
    assert admin.get(f"/tasks/{task['id']}").json()["status"] == "todo"

    # A page for admins: not in the viewer's navigation, and a clear page at its address.
    assert not browser.find_elements(By.CSS_SELECTOR, "#nav a[href='/console/projections']")
    sign_in(browser, stack, viewer_token, "/projections")
    assert wait_for(browser, "h1").text == "Not allowed for your role"
    assert "viewer" in wait_for(browser, ".problem[data-status='403']").text
