"""Browser tests of the console: one `bytedash up` for the whole session, a headless Chromium.

The stack is the product as a user starts it (``bytedash up``: migrations, worker, projector,
API, an embedded Temporal dev server), on a fresh database of the tests' Postgres so that it
starts in seconds. Every browser test file shares it: each test works in an org of its own
(`org` fixture), so tests never see each other's data.

Fixtures and helpers other test files use:

* ``stack`` (session): ``.base`` (``http://127.0.0.1:<port>``), ``.token(org, role, user)``,
  ``.api(token)`` (an ``httpx.Client`` on ``/api/v1`` with the token).
* ``org``: a fresh org id for this test.
* ``browser``: a Chromium driver (one per session, storage cleared before each test); after
  the test, the browser's console must hold no error (``console_errors``).
* ``sign_in(browser, stack, token, path="/")``: opens ``/console<path>`` signed in with `token`.
* ``wait_for(browser, css, text=None)``: the first element matching `css` (holding `text`).
* ``screenshot(browser, name)``: saves ``docs/console/<name>.png`` (the whole page, 1366 wide),
  once the page passes ``accessibility_problems(browser)`` (labelled controls, one h1, …).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from interfaces.api.auth import issue_dev_token
from interfaces.embedded import free_port
from interfaces.settings import DEV_JWT_SECRET
from tests.support.postgres import PostgresServer

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# Where screenshots go: a scratch folder, so that a test run leaves the checkout as it found it;
# BYTEDASH_SCREENSHOTS=docs/console retakes the ones the docs show (docs/console.md).
SCREENSHOTS = Path(
    os.environ.get("BYTEDASH_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "bytedash-console-screenshots"
).resolve()
WINDOW = (1366, 860)  # a laptop screen
READY_TIMEOUT = 90.0
WAIT_SECONDS = 15.0
# What the product's environment must not inherit from the shell running the tests.
_STACK_ENV = (
    "TEMPORAL_ADDRESS",
    "AUTH_JWT_SECRET",
    "AUTH_JWKS_URL",
    "BYTEDASH_ENV",
    "BYTEDASH_DATA_DIR",
    "API_HOST",
    "API_PORT",
    "SMTP_URL",
)


@dataclass
class Stack:
    base: str
    database_url: str
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def token(self, org: str, role: str, user: str, ttl: int = 3600) -> str:
        return issue_dev_token(DEV_JWT_SECRET, org, role, user, ttl=ttl)

    def api(self, token: str) -> httpx.Client:
        client = httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        self.clients.append(client)
        return client


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bytedash up exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(
        f"bytedash up was not ready within {READY_TIMEOUT:.0f} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def stack(pg_server: PostgresServer, migrated_template: str) -> Iterator[Stack]:
    """`bytedash up` on a fresh database, its own data folder and a free port."""
    data_dir = Path(tempfile.mkdtemp(prefix="bytedash-console-"))
    port = free_port(8000 + os.getpid() % 1000)
    with pg_server.database(template=migrated_template) as database_url:
        env = {k: v for k, v in os.environ.items() if k not in _STACK_ENV}
        env.update(
            DATABASE_URL=database_url,
            BYTEDASH_DATA_DIR=str(data_dir),
            API_PORT=str(port),
            LOG_FORMAT="json",
        )
        log = data_dir.parent / f"{data_dir.name}.out"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "interfaces.cli", "up", "--workers", "1"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        running = Stack(base=base, database_url=database_url, log=log)
        try:
            _wait_ready(process, base, log)
            yield running
        finally:
            for client in running.clients:
                client.close()
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(data_dir, ignore_errors=True)
            log.unlink(missing_ok=True)


@pytest.fixture
def org() -> str:
    """An org of this test's own: the stack is shared, the data is not."""
    return f"org_{os.urandom(5).hex()}"


def _chromium() -> webdriver.Chrome:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver "
            "(.ci/run does it on a fresh machine)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="bytedash-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-GB",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_window_size(*WINDOW)
    driver._bytedash_profile = profile  # type: ignore[attr-defined]
    return driver


@pytest.fixture(scope="session")
def _chromium_session(stack: Stack) -> Iterator[webdriver.Chrome]:
    # Depends on the stack so that it quits first: its open keep-alive connections would
    # otherwise hold up the API's graceful stop for its whole timeout.
    driver = _chromium()
    try:
        yield driver
    finally:
        profile = driver._bytedash_profile  # type: ignore[attr-defined]
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: webdriver.Chrome, allow: tuple[str, ...] = ()) -> list[str]:
    """The browser console's errors since the last call, but those containing one of `allow`."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [
        str(entry["message"])
        for entry in entries
        if entry.get("level") == "SEVERE" and not any(part in entry["message"] for part in allow)
    ]


@pytest.fixture
def browser(_chromium_session: webdriver.Chrome, stack: Stack) -> Iterator[Any]:
    """The session's Chromium with an empty console log and no signed-in user. After the test:
    no error in the browser's console (a test expecting one, such as a refused request, adds
    its text to ``browser.allowed_errors``)."""
    driver: Any = _chromium_session
    driver.get(f"{stack.base}/console/static/index.html")
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get("about:blank")
    driver.get_log("browser")
    driver.allowed_errors = ()
    driver.set_window_size(*WINDOW)
    yield driver
    errors = console_errors(driver, driver.allowed_errors)
    assert not errors, "the browser's console shows errors:\n" + "\n".join(errors)


def sign_in(driver: Any, stack: Stack, token: str, path: str = "/") -> None:
    """Open ``/console<path>`` as the holder of `token` (kept where the sign-in page keeps it)."""
    driver.get(f"{stack.base}/console/sign-in")
    driver.execute_script("localStorage.setItem('bytedash.console.token', arguments[0]);", token)
    driver.get(f"{stack.base}/console{path}")


def wait_for(
    driver: Any, css: str, text: str | None = None, timeout: float = WAIT_SECONDS
) -> WebElement:
    """The first visible element matching `css` (whose text holds `text`), waiting for it."""

    def found(d: Any) -> WebElement | bool:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            with contextlib.suppress(Exception):
                if element.is_displayed() and (text is None or text in element.text):
                    return element  # type: ignore[no-any-return]
        return False

    try:
        element = WebDriverWait(driver, timeout).until(found)
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(
            f"no {css!r}{f' holding {text!r}' if text else ''} within {timeout} s; "
            f"the page at {driver.current_url} shows:\n{body}"
        ) from None
    assert isinstance(element, WebElement)
    return element


def wait_gone(driver: Any, css: str, timeout: float = WAIT_SECONDS) -> None:
    """Wait until nothing matches `css`."""
    WebDriverWait(driver, timeout).until(lambda d: not d.find_elements(By.CSS_SELECTOR, css))


# The page's basic accessibility, checked in the browser: every form control has a name a
# screen reader reads (a label, aria-label or aria-labelledby), every image a text
# alternative, one h1, and the landmarks the shell provides.
_ACCESSIBILITY_PROBLEMS = """
const problems = [];
for (const control of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  const named = control.labels?.length || control.getAttribute("aria-label")
    || control.getAttribute("aria-labelledby") || control.getAttribute("title");
  const tag = control.tagName.toLowerCase();
  if (!named) problems.push(`unlabelled ${tag} ${control.name || control.id || ""}`);
}
for (const button of document.querySelectorAll("button")) {
  if (!(button.textContent.trim() || button.getAttribute("aria-label"))) {
    problems.push("a button without text");
  }
}
for (const image of document.querySelectorAll("img")) {
  if (!image.hasAttribute("alt")) problems.push(`an image without alt: ${image.src}`);
}
const h1s = document.querySelectorAll("main h1").length;
if (h1s !== 1) problems.push(`${h1s} h1 headings in main`);
for (const landmark of ["header", "nav[aria-label]", "main"]) {
  if (!document.querySelector(landmark)) problems.push(`no ${landmark} landmark`);
}
return problems;
"""


def accessibility_problems(driver: Any) -> list[str]:
    """What the page lacks for keyboard and screen-reader users (empty: nothing found)."""
    problems: list[str] = driver.execute_script(_ACCESSIBILITY_PROBLEMS)
    return problems


def screenshot(driver: Any, name: str) -> Path:
    """Save the whole page as ``<SCREENSHOTS>/<name>.png`` (1366 px wide, as tall as the page up
    to 2,400 px; with BYTEDASH_SCREENSHOTS=docs/console, the README's and docs/console.md's);
    the page must pass `accessibility_problems` first."""
    problems = accessibility_problems(driver)
    assert not problems, f"{name}: " + "; ".join(problems)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Confirmations in the corner come and go: not part of the page's picture.
    driver.execute_script("document.querySelectorAll('.toast').forEach((t) => t.remove());")
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": WINDOW[0], "height": max(WINDOW[1], min(height, 2400))}
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "deviceScaleFactor": 1, "mobile": False}
    )
    try:
        time.sleep(0.2)
        path = SCREENSHOTS / f"{name}.png"
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path
