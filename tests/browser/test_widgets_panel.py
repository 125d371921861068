"""The KeysPanel in a real notebook page, in headless Chromium, in JupyterLab and in Notebook 7:
create a key, Copy its value from the one-time box to the clipboard, "Done, I stored it",
save the notebook with widget state (no value in it), and look at it in light and dark themes.

Skipped when Chromium or Playwright (or Notebook 7) is missing, except under CI=true, where
that fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..lab_server import (
    QUIET,
    LabServer,
    NotebookServer,
    run_command,
    serving,
)

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
KEY_VALUE = re.compile(r"qbr_[0-9a-f]{64}")
PANEL = ".qbraid-keys-panel"
HERE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
"""The notebook on screen (others restored from the workspace are in hidden tabs)."""
SAVE_WIDGET_STATE = {**QUIET, "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True}}

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


def with_source_tree(server: LabServer) -> LabServer:
    """Kernels of the server import this checkout."""
    server.env["PYTHONPATH"] = ":".join(filter(None, [str(REPO), server.env.get("PYTHONPATH")]))
    return server


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = with_source_tree(LabServer(tmp_path_factory.mktemp("lab-panel")))
    yield from serving(server, SAVE_WIDGET_STATE)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    notebook = pytest.importorskip("notebook", reason="Notebook 7 is not installed")
    assert notebook.__version__.startswith("7."), notebook.__version__
    server = with_source_tree(NotebookServer(tmp_path_factory.mktemp("notebook7")))
    yield from serving(server, SAVE_WIDGET_STATE)


def new_page(browser, server: LabServer):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url[:-1])
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def panel_button(page, text: str):
    return page.locator(f"{PANEL} button:has-text('{text}')").first


def open_panel(
    page, server: LabServer, name: str, url_path: str, cell: str, ready: str = "No keys yet"
) -> Path:
    """Open a notebook showing `KeysPanel()` and run it until it shows `ready`; its path.

    The workspace is reset, so that notebooks of earlier tests are not restored beside it."""
    path = server.notebooks / name
    path.write_text(json.dumps(NOTEBOOK))
    page.goto(server.lab_url(url_path, reset=True))
    page.wait_for_selector(cell, timeout=60_000)
    # This notebook in front (a notebook restored from the workspace may come first), and
    # its kernel idle: run-all-cells runs the notebook in front.
    page.wait_for_function(
        """(name) => {
             const w = window.jupyterapp.shell.currentWidget;
             const k = w && w.sessionContext && w.sessionContext.session
               && w.sessionContext.session.kernel;
             return w && w.context && w.context.path === name && k && k.status === 'idle';
           }""",
        arg=name,
        timeout=60_000,
    )
    run_command(page, "notebook:run-all-cells")
    # In this notebook: a notebook restored from the workspace in a hidden tab may show a
    # live panel of its own, of the same keys.
    page.wait_for_selector(f"{HERE} {PANEL} :text('{ready}')", timeout=60_000)
    assert "Traceback" not in page.locator(f"{HERE} .jp-OutputArea").inner_text()
    return path


def create_key(page, name: str) -> str:
    """Create a key in the panel; returns the value its one-time box shows."""
    panel_button(page, "New key").click()
    page.locator(f"{PANEL} input[placeholder='e.g. ci']").fill(name)
    panel_button(page, "Create key").click()
    code = page.locator(f"{PANEL} code.qbraid-keys-value")
    code.wait_for()
    value = code.inner_text().strip()
    assert KEY_VALUE.fullmatch(value)
    row = page.locator(f"{PANEL} .qbraid-keys-row:has-text('{name}') .widget-html-content")
    assert "stored in this Lab" in row.inner_text()
    return value


def dismiss_and_save(page, path: Path, value: str) -> None:
    """ "Done, I stored it", then save: the value is gone from the page and from the file."""
    panel_button(page, "Done, I stored it").click()
    page.wait_for_selector(f"{PANEL} code.qbraid-keys-value", state="detached")
    page.wait_for_selector(f"{PANEL} button:has-text('Done, I stored it')", state="detached")
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


def test_panel_in_notebook7(browser, notebook7):
    page = new_page(browser, notebook7)
    path = open_panel(
        page, notebook7, "nb7.ipynb", "notebooks/nb7.ipynb", "#main-panel .jp-Notebook .jp-Cell"
    )
    assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    value = create_key(page, "nb7")
    dismiss_and_save(page, path, value)
    row = page.locator(f"{PANEL} .qbraid-keys-row:has-text('nb7')")
    assert row.count() == 1, "the key stays listed"
    page.context.close()


def test_copy_done_and_saved_widget_state(browser, lab):
    page = new_page(browser, lab)
    path = open_panel(page, lab, "panel.ipynb", "lab/tree/panel.ipynb", ".jp-Notebook .jp-Cell")
    value = create_key(page, "browser")

    # Copy: the inline button of the HTML widget writes the value to the clipboard.
    page.locator(f"{PANEL} button:has-text('Copy')").click()
    page.wait_for_selector(f"{PANEL} button:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == value

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel_box = page.locator(PANEL)
    # The value itself is masked: no key value in a committed picture, even a throwaway one.
    panel_box.screenshot(
        path=str(SCREENSHOTS / "panel-one-time-box.png"),
        mask=[page.locator(f"{PANEL} code.qbraid-keys-value")],
        mask_color="#9e9e9e",
    )
    dismiss_and_save(page, path, value)

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
    page.context.close()


def test_an_inactive_key_looks_the_same_in_the_sidebar_and_the_panel(browser, lab):
    status, created = lab.keys("POST", "api-keys", {"name": "paused"})
    assert status == 201
    status, _ = lab.keys("PATCH", f"api-keys/{created['data']['id']}", {"status": "inactive"})
    assert status == 200
    page = new_page(browser, lab)
    open_panel(
        page, lab, "inactive.ipynb", "lab/tree/inactive.ipynb", ".jp-Notebook .jp-Cell", "paused"
    )
    in_panel = page.locator(f"{HERE} {PANEL} .qbraid-keys-row:has-text('paused')")
    panel_badge = in_panel.locator("span[title^='Inactive']")
    panel_use = in_panel.locator("button:has-text('Use')")

    page.click('.jp-SideBar .lm-TabBar-tab[data-id="qbraid-keys-sidebar"]')
    in_sidebar = page.locator('#qbraid-keys-sidebar .qbk-Row[data-key-name="paused"]')
    in_sidebar.wait_for()
    sidebar_badge = in_sidebar.locator(".qbk-Status")
    sidebar_use = in_sidebar.locator(".qbk-Use")

    # Same badge: the same word, the same sentence when pointed at, the same colour.
    assert panel_badge.inner_text() == sidebar_badge.inner_text() == "inactive"
    assert (
        panel_badge.get_attribute("title")
        == sidebar_badge.get_attribute("title")
        == ("Inactive: requests with this key are refused until it is activated.")
    )
    colour = "e => getComputedStyle(e).color"
    assert panel_badge.evaluate(colour) == sidebar_badge.evaluate(colour)
    # Same disabled action, for the same reason: an inactive key cannot be used here.
    assert panel_use.is_disabled() and sidebar_use.is_disabled()
    assert (
        panel_use.get_attribute("title")
        == sidebar_use.get_attribute("title")
        == ("Activate the key first: requests with it are refused while it is inactive.")
    )
    for actions in (
        in_panel.locator("button:has-text('Activate')"),
        in_sidebar.locator(".qbk-Rotate, .qbk-Revoke"),
    ):
        for i in range(actions.count()):
            assert actions.nth(i).is_enabled()
    # Paused, not deleted: the name is neither struck through nor faded.
    name = in_sidebar.locator(".qbk-Row-name")
    assert name.evaluate("e => getComputedStyle(e).textDecorationLine") == "none"
    assert name.evaluate("e => getComputedStyle(e).opacity") == "1"
    assert in_sidebar.evaluate("e => getComputedStyle(e).opacity") == "1"
    page.context.close()
