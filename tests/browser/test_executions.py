"""The execution monitor while executions run: an execution's page follows it live (no
reload), and a member cancels one from it."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Stack, screenshot, sign_in, wait_for
from tests.browser.flows import active_definition, start_onboarding, wait_until


def test_an_execution_page_follows_the_execution_without_a_reload(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    flow = start_onboarding(admin, "Lin")
    sign_in(browser, stack, stack.token(org, "member", "rita"), f"/executions/{flow.execution_id}")
    assert wait_for(browser, "#execution-status").text == "waiting"
    assert wait_for(browser, "#current-step").text == "step_3"
    wait_for(browser, "ol.timeline > li.current[data-step-id=step_3]", "Waiting for task")
    wait_for(browser, "#live-state", "Live")
    browser.execute_script("window.stillTheSamePage = true;")

    # Someone else rejects the application elsewhere: the page shows the other branch.
    other_reviewer = stack.api(stack.token(org, "member", "sam"))
    answer = other_reviewer.patch(
        f"/tasks/{flow.task['id']}", json={"status": "done", "metadata": {"outcome": "rejected"}}
    )
    assert answer.status_code in (200, 202), answer.text
    wait_for(browser, "#execution-ui-status", "Rejected", timeout=20)
    assert wait_for(browser, "#execution-status").text == "completed"
    wait_for(browser, "ol.timeline > li[data-step-id=step_6]", "Rejected")
    wait_for(browser, "#live-state", "ended")
    assert browser.execute_script("return window.stillTheSamePage === true;")


def test_a_member_cancels_an_execution(browser: Any, stack: Stack, org: str) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    flow = start_onboarding(admin, "Kim")
    sign_in(browser, stack, stack.token(org, "member", "rita"), f"/executions/{flow.execution_id}")
    form = wait_for(browser, "#cancel-form")
    form.find_element("css selector", "input[name=reason]").send_keys("applied twice")
    form.find_element("css selector", "button[type=submit]").click()
    browser.switch_to.alert.accept()
    wait_for(browser, "#execution-status", "cancelled", timeout=20)
    assert admin.get(f"/executions/{flow.execution_id}").json()["status"] == "cancelled"
    # Nothing left to do to a cancelled execution.
    wait_for(browser, "#no-actions", "cancelled")


def _manual(admin: Any, name: str, steps: list[dict[str, Any]]) -> str:
    body = {
        "name": name,
        "statuses": [{"id": "confirmed", "label": "Confirmed"}],
        "steps": [
            {"id": "start", "type": "trigger", "name": "Started", "config": {"type": "manual"}},
            *steps,
        ],
    }
    return active_definition(admin, body)


def _start(admin: Any, definition_id: str) -> str:
    answer = admin.post(
        "/executions",
        params={"wait": "true"},
        json={"definition_id": definition_id, "contact": {"first_name": "Noor"}},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_member_signals_a_waiting_execution(browser: Any, stack: Stack, org: str) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    definition_id = _manual(
        admin,
        "Confirmation",
        [
            {
                "id": "confirm",
                "type": "wait_for_signal",
                "name": "Wait for confirmation",
                "config": {"signal": "confirmed"},
            },
            {
                "id": "done",
                "type": "update_status",
                "name": "Confirmed",
                "config": {"status": "confirmed"},
            },
        ],
    )
    execution_id = _start(admin, definition_id)
    wait_until(lambda: admin.get(f"/executions/{execution_id}").json()["status"] == "waiting")
    sign_in(browser, stack, stack.token(org, "member", "rita"), f"/executions/{execution_id}")
    form = wait_for(browser, "#signal-form")
    # The name the execution waits for is filled in.
    assert form.find_element(By.NAME, "signal").get_attribute("value") == "confirmed"
    payload = form.find_element(By.NAME, "payload")
    payload.clear()
    payload.send_keys('{"by": "phone"}')
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#execution-ui-status", "Confirmed", timeout=20)
    assert wait_for(browser, "#execution-status").text == "completed"
    step = wait_for(browser, "ol.timeline > li[data-step-id=confirm]")
    assert step.get_attribute("data-status") == "completed"


def test_a_failed_execution_is_retried_by_a_member_not_a_viewer(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    # A call to this machine is refused by the outbound policy: the step fails at once.
    definition_id = _manual(
        admin,
        "Notify the CRM",
        [
            {
                "id": "notify",
                "type": "http_request",
                "name": "Notify the CRM",
                "config": {"method": "POST", "url": "http://127.0.0.1:9/hook"},
            }
        ],
    )
    execution_id = _start(admin, definition_id)
    assert wait_until(
        lambda: admin.get(f"/executions/{execution_id}").json()["status"] == "failed"
    ), "the execution did not fail"

    sign_in(browser, stack, stack.token(org, "viewer", "vera"), f"/executions/{execution_id}")
    wait_for(browser, "#no-actions", "viewer")
    assert not browser.find_elements(By.CSS_SELECTOR, "#retry-form")

    sign_in(browser, stack, stack.token(org, "member", "rita"), f"/executions/{execution_id}")
    failed = wait_for(browser, "ol.timeline > li[data-step-id=notify][data-status=failed]")
    assert failed.find_elements(By.CSS_SELECTOR, ".step-error")
    assert not browser.find_elements(By.CSS_SELECTOR, "#signal-form, #cancel-form")
    form = wait_for(browser, "#retry-form")
    form.find_element(By.NAME, "reason").send_keys("the CRM is back")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The retry is recorded in the timeline, with who asked; the call fails again.
    retried = wait_for(browser, "ol.timeline > li[data-status=retried]", timeout=20)
    assert "rita" in retried.text and "the CRM is back" in retried.text
    wait_for(browser, "#execution-status", "failed", timeout=20)
    wait_for(browser, "#retry-form")
    screenshot(browser, "execution-retried")
