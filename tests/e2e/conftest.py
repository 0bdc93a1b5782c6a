"""Headless Debian Chromium driven by Playwright against the live server and the real worker."""

import os
import shutil

import pytest

from painting.chromium import CHROMIUM, CHROMIUM_ARGS

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make system` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, has_touch=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # 4xx answers are part of some tests (a refused mask); anything else logged is a defect.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "responded with a status of 4" not in m.text
            and errors.append(m.text)
        ),
    )
    yield page
    context.close()
    assert not errors, errors
