"""My work and the execution monitor, as a reviewer (a member) uses them: the onboarding's
review task is listed with its due date, completing it with an outcome shows at once, and the
execution's page shows the branch the outcome took."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import Stack, screenshot, sign_in, wait_for, wait_gone
from tests.browser.flows import start_onboarding


def test_a_reviewer_completes_the_onboarding_task_and_sees_the_branch(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))
    grace = start_onboarding(admin, "Grace")
    other = start_onboarding(admin, "Ada", grace.definition_id)

    sign_in(browser, stack, stack.token(org, "member", "rita"))
    row = wait_for(browser, f"tr[data-task-id='{grace.task['id']}']")
    assert "Review Grace's Application" in row.text
    assert "role:member" in row.text
    assert row.find_element(By.CSS_SELECTOR, "time").get_attribute("datetime")
    wait_for(browser, f"tr[data-task-id='{other.task['id']}']")
    screenshot(browser, "my-work")

    # By keyboard: type the outcome, Enter completes.
    outcome = row.find_element(By.CSS_SELECTOR, "input[name=outcome]")
    assert (
        browser.execute_script(
            "return document.querySelector(`label[for='${arguments[0].id}']`).textContent;", outcome
        )
        == "Outcome"
    )
    outcome.send_keys("approved", Keys.ENTER)
    # Read-your-writes: the task leaves the open list without a reload; the other stays.
    wait_gone(browser, f"tr[data-task-id='{grace.task['id']}']")
    wait_for(browser, ".toast", "Completed")
    assert browser.find_elements(By.CSS_SELECTOR, f"tr[data-task-id='{other.task['id']}']")
    browser.find_element(By.CSS_SELECTOR, "#task-filter option[value=done]").click()
    done = wait_for(browser, f"tr[data-task-id='{grace.task['id']}']")
    assert "approved" in done.find_element(By.CSS_SELECTOR, ".outcome").text

    # The execution took the approved branch: ui_status Approved, step_5 ran, step_6 did not.
    done.find_element(By.LINK_TEXT, "open execution").click()
    wait_for(browser, "#execution-ui-status", "Approved", timeout=20)
    assert wait_for(browser, "#execution-status").text == "completed"
    steps = [
        e.get_attribute("data-step-id")
        for e in browser.find_elements(By.CSS_SELECTOR, "ol.timeline > li")
    ]
    assert steps[:5] == ["step_1", "step_2", "step_3", "step_4", "step_5"]
    assert "step_6" not in steps
    assert "approved" in wait_for(browser, "#execution-tasks").text
    screenshot(browser, "execution")

    # The monitor lists both executions; filtered by status, only the one still waiting.
    browser.find_element(By.LINK_TEXT, "← All executions").click()
    wait_for(browser, f"tr[data-execution-id='{other.execution_id}']")
    wait_for(browser, f"tr[data-execution-id='{grace.execution_id}']")
    screenshot(browser, "executions")
    browser.find_element(By.CSS_SELECTOR, "select[name=status] option[value=waiting]").click()
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    wait_gone(browser, f"tr[data-execution-id='{grace.execution_id}']")
    assert "status=waiting" in browser.current_url
    wait_for(browser, f"tr[data-execution-id='{other.execution_id}']")


def test_my_work_marks_overdue_tasks_and_lists_the_users_own(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "alice"))

    def task(title: str, assigned_to: str, due: str | None) -> str:
        body: dict[str, Any] = {"title": title, "assigned_to": assigned_to}
        if due:
            body["due_date"] = due
        answer = admin.post("/tasks", params={"wait": "true"}, json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    late = task("Call the applicant back", "user:rita", "2026-01-05T09:00:00Z")
    later = task("File the contract", "role:member", "2099-01-05T09:00:00Z")
    someone_elses = task("Not Rita's", "user:sam", None)

    sign_in(browser, stack, stack.token(org, "member", "rita"))
    late_row = wait_for(browser, f"tr[data-task-id='{late}']")
    assert "overdue" in (late_row.get_attribute("class") or "")
    assert late_row.find_element(By.CSS_SELECTOR, ".badge[data-status=overdue]")
    later_row = wait_for(browser, f"tr[data-task-id='{later}']")
    assert "overdue" not in (later_row.get_attribute("class") or "")
    assert "1 overdue" in wait_for(browser, "#task-count").text
    # Soonest due first; another user's task is not Rita's work.
    rows = [
        r.get_attribute("data-task-id") for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows == [late, later]
    assert someone_elses not in rows
