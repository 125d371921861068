"""The KeysPanel in Notebook 7 (`jupyter notebook`), in headless Chromium: the panel renders,
a create shows the one-time box, "Done, I stored it" removes it, and the saved notebook
(with widget state) holds no key value.

Skipped when Chromium, Playwright or Notebook 7 is missing, except under CI=true, where
that fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab_server import CHROMIUM, CHROMIUM_ARGS, NotebookServer, chromium_missing_reason

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
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


def _missing_reason() -> str | None:
    reason = chromium_missing_reason()
    if reason is not None:
        return reason
    try:
        from notebook import __version__
    except ImportError:
        return "Notebook 7 is not installed (pip install -e '.[test]')"
    if not __version__.startswith("7."):
        return f"notebook {__version__} is not Notebook 7"
    return None


@pytest.fixture
def jp_asyncio_loop():
    """A private loop for pytest-jupyter's autouse fixtures (Playwright owns the thread's)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup():
    """No in-process ServerApp here (`jupyter notebook` runs in a subprocess)."""
    yield


@pytest.fixture(scope="module")
def notebook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookServer]:
    reason = _missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run: {reason}")
        pytest.skip(reason)
    server = NotebookServer(tmp_path_factory.mktemp("notebook7"))
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
def page(notebook_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
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


def test_panel_create_and_done_in_notebook7(page, notebook_server):
    server = notebook_server
    path = server.notebooks / "nb7.ipynb"
    path.write_text(json.dumps(NOTEBOOK))
    page.goto(server.lab_url("notebooks/nb7.ipynb"))
    # Notebook 7's own shell (not JupyterLab's) with the notebook in it.
    page.wait_for_selector("#main-panel .jp-Notebook .jp-Cell", timeout=60_000)
    assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
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
    assert "qBraid API keys" in page.locator(PANEL).inner_text()
    assert "Traceback" not in page.locator(".jp-OutputArea").inner_text()

    panel_button(page, "New key").click()
    page.locator(f"{PANEL} input[placeholder='e.g. ci']").fill("nb7")
    panel_button(page, "Create key").click()
    code = page.locator(f"{PANEL} code.qbraid-keys-value")
    code.wait_for()
    value = code.inner_text().strip()
    assert KEY_VALUE.fullmatch(value)
    assert value in page.content()
    row = page.locator(f"{PANEL} .qbraid-keys-row:has-text('nb7') .widget-html-content")
    assert "stored in this Lab" in row.inner_text()

    panel_button(page, "Done, I stored it").click()
    page.wait_for_selector(f"{PANEL} code.qbraid-keys-value", state="detached")
    page.wait_for_selector(f"{PANEL} button:has-text('Done, I stored it')", state="detached")
    assert value not in page.content()
    assert "nb7" in row.inner_text(), "the key stays listed"

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
