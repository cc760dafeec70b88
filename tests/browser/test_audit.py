"""The console's audit pages: an auditor (a viewer: every role of the org reads the history)
finds an execution's events and its workflow lineage, browses the event store with its filters,
reads an aggregate's state at a version, and exports NDJSON; an admin sees the integrity check."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.conftest import Stack, screenshot, sign_in, wait_for
from tests.browser.flows import start_onboarding


def test_an_auditor_finds_an_executions_events_and_its_lineage(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "ada"))
    onboarding = start_onboarding(admin, "Grace")
    auditor = stack.token(org, "viewer", "audrey")

    sign_in(browser, stack, auditor, "/audit?view=execution")
    form = wait_for(browser, "#execution-form")
    form.find_element(By.NAME, "id").send_keys(onboarding.execution_id)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    lineage = wait_for(browser, "#execution-lineage")
    assert f"execution-{onboarding.execution_id}" in lineage.text
    # What the workflow changed: the execution itself, its contact and the review task.
    assert f"task {onboarding.task['id']}" in lineage.text
    assert "workflow_execution" in lineage.text and "contact" in lineage.text
    types = {
        row.get_attribute("data-event-type")
        for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-event-type]")
    }
    assert {"WorkflowExecution.Started", "Task.Assigned"} <= types, types
    assert not browser.find_elements(By.CSS_SELECTOR, "nav a[href*='view=integrity']")
    assert stack.api(auditor).get("/audit/verify").status_code == 403
    screenshot(browser, "audit-execution")

    # The whole story of the execution's contact: its executions, their tasks, the workflows.
    browser.find_element(By.ID, "contact-lineage-link").click()
    story = wait_for(browser, "#contact-lineage")
    assert onboarding.execution_id in story.text
    # Its task, by its title (personal data, shown opened), linked to the task's history.
    assert onboarding.task["title"] in story.text, story.text
    assert story.find_elements(By.CSS_SELECTOR, f"a[href*='id={onboarding.task['id']}']")
    assert f"execution-{onboarding.execution_id}" in story.text
    screenshot(browser, "audit-contact")
    browser.back()
    wait_for(browser, "#execution-lineage")

    # The task's history, and its state at its first version.
    browser.find_element(By.CSS_SELECTOR, f"a[href*='id={onboarding.task['id']}']").click()
    wait_for(browser, "#aggregate-state")
    browser.find_element(By.CSS_SELECTOR, "tr[data-version='1'] a").click()
    state = wait_for(browser, "#aggregate-state h2", "at version 1")
    assert "Review Grace" in wait_for(browser, "#aggregate-state").text, state.text
    screenshot(browser, "audit-aggregate")
    # Its state as of a chosen time (a minute from now, in the browser's zone): the latest.
    form = wait_for(browser, "#aggregate-form")
    browser.execute_script(
        "const d = new Date(Date.now() + 60000 - new Date().getTimezoneOffset() * 60000);"
        "arguments[0].value = ''; arguments[1].value = d.toISOString().slice(0, 19);",
        form.find_element(By.NAME, "version"),
        form.find_element(By.NAME, "as_of"),
    )
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#aggregate-state h2", "as of")
    assert "as_of=" in browser.current_url and "version=" not in browser.current_url

    # The event browser, filtered by event type, and its export of every match.
    browser.get(f"{stack.base}/console/audit?view=integrity")
    wait_for(browser, "#integrity-refused")
    browser.get(f"{stack.base}/console/audit?event_type=Task.Assigned")
    row = wait_for(browser, "#event-results tr[data-event-type='Task.Assigned']")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#event-results tbody tr")) == 1, row.text
    browser.find_element(By.ID, "export-ndjson").click()
    exported = wait_for(browser, "#export-ndjson[data-exported]")
    assert exported.get_attribute("data-exported") == "1"
    browser.get(f"{stack.base}/console/audit?aggregate_id={onboarding.execution_id}")
    wait_for(browser, "#event-results tr[data-event-type='WorkflowExecution.Started']")
    screenshot(browser, "audit")


def test_an_admin_sees_the_integrity_check(browser: Any, stack: Stack, org: str) -> None:
    admin_token = stack.token(org, "admin", "ada")
    made = stack.api(admin_token).post("/contacts?wait=true", json={"first_name": "Ada"})
    assert made.status_code == 201, made.text
    sign_in(browser, stack, admin_token, "/audit?view=integrity")
    result = wait_for(browser, "#integrity .badge")
    assert result.get_attribute("data-status") == "ok"
    assert "the org's share" in wait_for(browser, "#integrity").text
    screenshot(browser, "audit-integrity")
