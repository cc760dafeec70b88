"""The console's projections page: an org's admin sees their org's share of each read model
and no operator tool; a platform operator retries and skips parked events and rebuilds a
projection while its progress shows; a member may not open the page."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from interfaces.api.auth import issue_dev_token
from interfaces.settings import DEV_JWT_SECRET
from tests.browser.conftest import Stack, screenshot, sign_in, wait_for


def park(stack: Stack, event: dict[str, Any], error: str) -> None:
    """Record `event` as parked by the contacts projection, as the projector does after its
    last attempt (a handler that fails on demand is not something the running stack has)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_parked_events (projection, position, event_id, event_type,"
            " originator_id, originator_version, error, attempts)"
            " VALUES ('contacts', %s, %s, %s, %s, %s, %s, 3)",
            (
                event["position"],
                event["event_id"],
                event["event_type"],
                event["aggregate_id"],
                event["aggregate_version"],
                error,
            ),
        )


def test_an_operator_retries_and_skips_parked_events_and_rebuilds(
    browser: Any, stack: Stack, org: str
) -> None:
    token = issue_dev_token(
        DEV_JWT_SECRET, org, "admin", "op", extra_claims={"roles": ["bytedash:operator"]}
    )
    api = stack.api(token)
    events = []
    for name in ("Ada", "Grace"):
        made = api.post("/contacts?wait=true", json={"first_name": name})
        assert made.status_code == 201, made.text
        events.append(
            api.get("/events", params={"aggregate_id": made.json()["id"]}).json()["items"][0]
        )
    first, second = events
    park(stack, first, "KeyError: 'first_name'")
    park(stack, second, "ValueError: unknown status")

    sign_in(browser, stack, token, "/projections")
    wait_for(browser, "tr[data-projection=contacts][data-status=parked]")
    row = wait_for(browser, f"tr[data-parked='{first['position']}'][data-status=parked]")
    assert "KeyError" in row.text
    screenshot(browser, "projections")

    row.find_element(By.CSS_SELECTOR, "button[data-retry]").click()
    wait_for(browser, f"tr[data-parked='{first['position']}'][data-status=retried]", timeout=30)
    skip = wait_for(browser, f"tr[data-parked='{second['position']}'] form")
    skip.find_element(By.NAME, "reason").send_keys("written by a bug fixed since")
    skip.find_element(By.CSS_SELECTOR, "button[data-skip]").click()
    skipped = wait_for(
        browser, f"tr[data-parked='{second['position']}'][data-status=skipped]", timeout=30
    )
    assert "written by a bug fixed since" in skipped.text
    assert "by user:op" in skipped.text
    wait_for(browser, "tr[data-projection=contacts][data-status=running]")

    # By keyboard: the focus stays on the button while the status is read again (every 2 s).
    browser.find_element(By.CSS_SELECTOR, "button[data-rebuild=definitions]").send_keys("")
    time.sleep(2.5)
    focused = browser.switch_to.active_element
    assert focused.get_attribute("data-rebuild") == "definitions"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    done = wait_for(browser, "tr[data-projection=definitions] [data-phase=done]", timeout=60)
    assert "100 %" in done.text and "asked by user:op" in done.text


def test_an_org_admin_sees_the_orgs_share_and_a_member_may_not_open_it(
    browser: Any, stack: Stack, org: str
) -> None:
    admin = stack.token(org, "admin", "ada")
    made = stack.api(admin).post("/contacts?wait=true", json={"first_name": "Ada"})
    assert made.status_code == 201, made.text
    sign_in(browser, stack, admin, "/projections")
    row = wait_for(browser, "tr[data-projection=contacts]")
    assert row.get_attribute("data-status") in {"running", "parked"}
    assert "platform operators' tools" in wait_for(browser, "main").text
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-rebuild]")
    assert not browser.find_elements(By.ID, "parked")
    screenshot(browser, "projections-org-admin")
    refused = stack.api(admin).post("/admin/projections/contacts/rebuild")
    assert refused.status_code == 403

    sign_in(browser, stack, stack.token(org, "member", "max"), "/projections")
    assert wait_for(browser, "h1").text == "Not allowed for your role"
    assert not browser.find_elements(By.CSS_SELECTOR, "#nav a[href='/console/projections']")
