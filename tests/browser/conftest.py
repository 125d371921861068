"""Browser tests: real `jupyter lab`/`jupyter notebook` subprocesses and headless Chromium."""

from __future__ import annotations

import asyncio

import pytest

from ..lab_server import CHROMIUM, CHROMIUM_ARGS, require_browser


# pytest-jupyter's autouse fixtures, overridden here: the servers are subprocesses, and
# Playwright owns the thread's event loop.
@pytest.fixture
def jp_asyncio_loop():
    """A private loop: the default takes the thread's loop, Playwright's, and closes it."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup():
    """No in-process ServerApp to clean up."""
    yield


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright, one per test module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
