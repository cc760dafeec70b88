"""The console's definitions pages: an admin writes a definition with a mistake and sees the
problem at its step (drawing, step list, problems beside the editor), fixes it, activates it;
a template is instantiated from its configuration form; a viewer is offered none of it."""

from __future__ import annotations

import json
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import Stack, screenshot, sign_in, wait_for
from tests.browser.flows import onboarding_definition, start_onboarding


def put_json(browser: Any, value: dict[str, Any]) -> None:
    """Type the definition into the editor (set at once: typing 2 KB key by key takes seconds)."""
    browser.execute_script(
        "const t = document.getElementById('definition-json');"
        "t.value = arguments[0]; t.dispatchEvent(new Event('input'));",
        json.dumps(value, indent=2),
    )


def test_an_admin_sees_a_mistake_at_its_step_fixes_it_and_activates(
    browser: Any, stack: Stack, org: str
) -> None:
    browser.allowed_errors = ("status of 422",)
    sign_in(browser, stack, stack.token(org, "admin", "ada"), "/definitions/new")
    wait_for(browser, "#definition-graph, #editor-graph svg")
    definition = onboarding_definition()
    definition["name"] = "Onboarding with a mistake"
    review = definition["steps"][1]
    del review["config"]["title"]  # an assign_task needs a title
    definition["steps"][2]["config"]["task_from_step"] = "step_9"  # names no step
    put_json(browser, definition)
    browser.find_element(By.ID, "save-definition").click()

    # The problems, each at its step: in the list beside the editor ...
    problems = wait_for(browser, "[data-testid=step-problems] li[data-step=step_2]")
    assert "title" in problems.text
    assert wait_for(browser, "[data-testid=step-problems] li[data-step=step_3]").text
    # ... in the step list, and in the drawing (the steps' nodes carry the problem class).
    marked = {
        row.get_attribute("data-step")
        for row in browser.find_elements(By.CSS_SELECTOR, "#editor-steps tr.has-problem")
    }
    assert {"step_2", "step_3"} <= marked
    wait_for(browser, "#editor-graph svg .node.problem")
    # The entry takes the keyboard user to the step in the editor.
    problems.find_element(By.TAG_NAME, "button").click()
    selected = browser.execute_script(
        "const t = document.activeElement;"
        " return t.id + '|' + t.value.slice(t.selectionStart, t.selectionEnd);"
    )
    assert selected.startswith("definition-json|") and "step_2" in selected
    # So does the step's box in the drawing, by keyboard.
    box = wait_for(browser, "#editor-graph g.node.problem[data-step=step_3]")
    box.send_keys(Keys.ENTER)
    selected = browser.execute_script(
        "const t = document.activeElement;"
        " return t.id + '|' + t.value.slice(t.selectionStart, t.selectionEnd);"
    )
    assert selected.startswith("definition-json|") and "step_3" in selected
    screenshot(browser, "definitions-editor")

    review["config"]["title"] = "Review {{contact.first_name}}"
    definition["steps"][2]["config"]["task_from_step"] = "step_2"
    put_json(browser, definition)
    browser.find_element(By.ID, "save-definition").click()
    wait_for(browser, "[data-testid=webhook-secret]")
    assert not browser.find_elements(By.CSS_SELECTOR, "#editor-steps tr.has-problem")
    browser.find_element(By.ID, "open-saved").click()

    wait_for(browser, "h1", "Onboarding with a mistake")
    wait_for(browser, "#definition-graph svg")
    browser.find_element(By.ID, "activate").click()
    wait_for(browser, ".badge[data-status=active]")
    assert wait_for(browser, "#deactivate").text == "Deactivate"
    screenshot(browser, "definitions-one")

    # A new version from the editor; the old one stays readable.
    browser.find_element(By.ID, "edit-definition").click()
    wait_for(browser, "h1", "New version of Onboarding with a mistake")
    definition["description"] = "Second version"
    put_json(browser, definition)
    browser.find_element(By.ID, "save-definition").click()
    wait_for(browser, "#definition-outcome", "Published version 2")
    browser.find_element(By.ID, "open-saved").click()
    wait_for(browser, "nav[aria-label=Versions] a[aria-current=page]", "v2")
    assert "Second version" in wait_for(browser, "main").text
    browser.find_element(By.CSS_SELECTOR, "nav[aria-label=Versions] a[href$='?version=1']").click()
    wait_for(browser, "h2", "Steps of version 1")

    browser.find_element(By.CSS_SELECTOR, "a[href='/console/definitions']").click()
    row = wait_for(browser, "#definition-list tr", "Onboarding with a mistake")
    assert "active" in row.text
    wait_for(browser, "#template-list a", "Lead")
    screenshot(browser, "definitions")


def test_a_template_is_made_a_definition_from_its_configuration_form(
    browser: Any, stack: Stack, org: str
) -> None:
    browser.allowed_errors = ("status of 422",)
    sign_in(
        browser, stack, stack.token(org, "owner", "olga"), "/definitions/templates/lead_scoring"
    )
    form = wait_for(browser, "#instantiate-form")
    wait_for(browser, "#template-graph svg")
    email = form.find_element(By.NAME, "configuration.notification_email")
    assert email.get_attribute("required") is not None
    size = form.find_element(By.NAME, "configuration.large_company_employees")
    assert size.get_attribute("value") == "500"  # the schema's default
    size.clear()
    size.send_keys("200")
    form.find_element(By.ID, "instantiate").click()
    # The missing setting is named at its field.
    wait_for(browser, "[name='configuration.notification_email'][aria-invalid=true]")
    assert "required" in wait_for(browser, "#instantiate-form .field-error").text
    email.send_keys("sales@example.com")
    screenshot(browser, "definitions-template")
    form.find_element(By.ID, "instantiate").click()
    wait_for(browser, "#open-made").click()
    wait_for(browser, "h1", "Lead")
    wait_for(browser, "#definition-graph svg")
    made = browser.current_url.rsplit("/", 1)[-1]
    body = stack.api(stack.token(org, "viewer", "vic")).get(f"/definitions/{made}").json()
    transform = next(s for s in body["steps"] if s["type"] == "transform")
    assert "200" in json.dumps(transform["config"])


def test_a_viewer_reads_definitions_but_is_offered_no_change(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.api(stack.token(org, "admin", "ada"))
    definition_id = start_onboarding(admin, "Grace").definition_id
    viewer_token = stack.token(org, "viewer", "vic")
    refused = stack.api(viewer_token).post(f"/definitions/{definition_id}/activate")
    assert refused.status_code == 403

    sign_in(browser, stack, viewer_token, f"/definitions/{definition_id}")
    wait_for(browser, "#definition-graph svg")
    # How its executions went: one, waiting for the reviewer's task.
    stats = wait_for(browser, "#definition-stats")
    assert "1\nexecutions" in stats.text
    assert "task" in wait_for(browser, "#definition-stats table", "Waiting for").text
    screenshot(browser, "definitions-viewer")
    assert not browser.find_elements(By.ID, "activate")
    assert not browser.find_elements(By.ID, "edit-definition")
    browser.get(f"{stack.base}/console/definitions")
    wait_for(browser, "#definition-list a", "Applicant Onboarding")
    assert not browser.find_elements(By.ID, "new-definition")
    browser.get(f"{stack.base}/console/definitions/templates/lead_scoring")
    wait_for(browser, "h1", "Lead")
    assert not browser.find_elements(By.ID, "instantiate-form")
    browser.get(f"{stack.base}/console/definitions/new")
    assert wait_for(browser, "h1").text == "Not allowed for your role"


def test_the_drawing_follows_branches_loops_failure_routes_and_undos(
    browser: Any, stack: Stack, org: str
) -> None:
    sign_in(browser, stack, stack.token(org, "admin", "ada"), "/definitions/new")
    wait_for(browser, "#editor-graph svg")
    task = {"type": "assign_task", "config": {"title": "Check", "assign_to": "role:admin"}}
    put_json(
        browser,
        {
            "name": "Every shape",
            "steps": [
                {
                    "id": "start",
                    "type": "trigger",
                    "name": 'Start "now" <b>x</b> [a] {b} (c) `d` #e; & f|g',
                    "config": {"type": "manual"},
                },
                {
                    "id": "reviews",
                    "type": "parallel",
                    "name": "Reviews",
                    "config": {
                        "branches": [
                            {"name": "legal", "steps": [{"id": "legal", "name": "Legal", **task}]},
                            {"name": "finance", "steps": [{"id": "fin", "name": "Fin", **task}]},
                        ]
                    },
                },
                {
                    "id": "each",
                    "type": "for_each",
                    "name": "Each document",
                    "config": {
                        "items": "{{payload.documents}}",
                        "steps": [{"id": "doc", "name": "Document", **task}],
                    },
                },
                {
                    "id": "call",
                    "type": "http_request",
                    "name": "Reserve",
                    "on_failure": "fallback",
                    "config": {"method": "POST", "url": "https://booking.example/seats"},
                    "compensate": {
                        "type": "http_request",
                        "config": {"method": "DELETE", "url": "https://booking.example/seats/1"},
                    },
                },
                {
                    "id": "wait",
                    "type": "wait_for_signal",
                    "name": "Wait",
                    "next": "end",
                    "config": {"signal": "go", "timeout_hours": 1, "on_timeout": "nowhere"},
                },
                {
                    "id": "fallback",
                    "type": "update_status",
                    "name": "Fallback",
                    "config": {"status": "x"},
                },
            ],
        },
    )
    # Two branches and the loop's body are boxes of their own; every route is drawn and named.
    wait_for(browser, "#editor-graph svg .cluster", timeout=10)
    graph = wait_for(browser, "#editor-graph")
    wait_for(browser, "#editor-steps tr[data-step=doc]")
    clusters = graph.find_elements(By.CSS_SELECTOR, "svg .cluster")
    assert len(clusters) == 3, graph.get_attribute("data-graph")
    text = graph.text
    assert 'Start "now" <b>x</b> [a] {b} (c) `d` #e; & f|g' in text  # as written, not markup
    for words in (
        "branch legal",
        "branch finance",
        "for each item",
        "join: all",
        "on failure",
        "undo",
        "Undo Reserve",
        "timeout",
        "missing step: nowhere",
        "each item",
    ):
        assert words in text, (words, text)
    assert graph.find_elements(By.CSS_SELECTOR, "svg .node.problem")  # the missing step
