"""The KeysPanel in a real JupyterLab notebook, in headless Chromium: create a key, Copy its
value from the one-time box to the clipboard, "Done, I stored it", save the notebook with
widget state, and look at it in the light and dark themes.

Skipped when Chromium or Playwright is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab_server import CHROMIUM, CHROMIUM_ARGS, LabServer, chromium_missing_reason

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
KEY_VALUE = re.compile(r"qbr_[0-9a-f]{64}")
PANEL = ".qbraid-keys-panel"

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "panel",
            "metadata": {},
            "outputs": [],
            "source": "from qbraid_keys_ext import KeysPanel\nKeysPanel()",
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture
def jp_asyncio_loop():
    """A private loop for pytest-jupyter's autouse fixtures (Playwright owns the thread's)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup():
    """No in-process ServerApp here (`jupyter lab` runs in a subprocess)."""
    yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    reason = chromium_missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run: {reason}")
        pytest.skip(reason)
    server = LabServer(tmp_path_factory.mktemp("lab-panel"))
    server.env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), server.env.get("PYTHONPATH")])
    )
    settings = Path(server.env["JUPYTERLAB_SETTINGS_DIR"])
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
    }.items():
        folder, name = plugin.rsplit("/", 1)
        (settings / folder).mkdir(parents=True, exist_ok=True)
        (settings / folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url[:-1])
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


def run_command(page, command: str, args: dict | None = None) -> None:
    page.evaluate(
        "async ([id, args]) => { await window.jupyterapp.commands.execute(id, args); }",
        [command, args or {}],
    )


def panel_button(page, text: str):
    return page.locator(f"{PANEL} button:has-text('{text}')").first


def test_copy_done_and_saved_widget_state(page, lab):
    path = lab.notebooks / "panel.ipynb"
    path.write_text(json.dumps(NOTEBOOK))
    page.goto(lab.lab_url("lab/tree/panel.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(
        """() => {
             const w = window.jupyterapp.shell.currentWidget;
             const k = w && w.sessionContext && w.sessionContext.session
               && w.sessionContext.session.kernel;
             return k && k.status === 'idle';
           }""",
        timeout=60_000,
    )
    run_command(page, "notebook:run-all-cells")
    page.wait_for_selector(f"{PANEL} :text('No keys yet')", timeout=60_000)

    panel_button(page, "New key").click()
    page.locator(f"{PANEL} input[placeholder='e.g. ci']").fill("browser")
    panel_button(page, "Create key").click()
    code = page.locator(f"{PANEL} code.qbraid-keys-value")
    code.wait_for()
    value = code.inner_text().strip()
    assert KEY_VALUE.fullmatch(value)
    status, _ = lab.request("GET", "qbraid-keys/status")
    assert status == 200

    # Copy: the inline button of the HTML widget writes the value to the clipboard.
    copy = page.locator(f"{PANEL} button:has-text('Copy')")
    copy.click()
    page.wait_for_selector(f"{PANEL} button:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == value
    row = page.locator(f"{PANEL} .qbraid-keys-row:has-text('browser') .widget-html-content")
    assert "stored in this Lab" in row.inner_text()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel_box = page.locator(PANEL)
    panel_box.screenshot(path=str(SCREENSHOTS / "panel-one-time-box.png"))

    panel_button(page, "Done, I stored it").click()
    page.wait_for_selector(f"{PANEL} code.qbraid-keys-value", state="detached")
    assert value not in page.content()

    run_command(page, "docmanager:save")
    page.wait_for_function(
        """() => {
             const w = window.jupyterapp.shell.currentWidget;
             return w && w.context && !w.context.model.dirty;
           }"""
    )
    saved = path.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved, "widget state was saved"
    assert "qBraid API keys" in saved
    assert value not in saved and not KEY_VALUE.search(saved)

    # Light and dark themes: the panel's text follows the theme's font colour.
    panel_button(page, "Details").click()
    page.wait_for_selector(f"{PANEL} .qbraid-keys-row :text('Permissions')")
    page.mouse.move(1000, 880)
    colours = {}
    for theme, shot in (
        ("JupyterLab Light", "panel-light.png"),
        ("JupyterLab Dark", "panel-dark.png"),
    ):
        run_command(page, "apputils:change-theme", {"theme": theme})
        page.wait_for_selector(f'body[data-jp-theme-name="{theme}"]', state="attached")
        page.wait_for_timeout(800)
        colours[theme] = page.evaluate(
            """sel => getComputedStyle(document.querySelector(sel)).color""",
            f"{PANEL} .widget-html-content b",
        )
        panel_box.screenshot(path=str(SCREENSHOTS / shot))
    assert colours["JupyterLab Light"] != colours["JupyterLab Dark"]
    bright = [int(c) for c in re.findall(r"\d+", colours["JupyterLab Dark"])[:3]]
    assert sum(bright) > 3 * 150, colours
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
