"""Every message of the sidebar is visible in the sidebar itself, with no notification plugin.

qBraid Lab disables JupyterLab's notification plugin (`@jupyterlab/apputils-extension:
notification`) in its `page_config.json`; toasts then go nowhere. This JupyterLab is set up the
same way (a `labconfig/page_config.json` in its config dir), and each outcome the sidebar reports
(create, copy, status change, rotate, revoke, errors, "Use in notebook" with and without a
notebook or a kernel) must appear in the sidebar's live regions: `role="status"` for successes,
`role="alert"` for problems. `test_sidebar.py` checks the toasts where the plugin runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..lab_server import LabServer, run_command, serving
from .test_sidebar import (
    DIALOG,
    PANEL,
    _open_lab,
    close_value_box,
    create_via_api,
    open_sidebar,
    read_value_box,
    reload_list,
    row,
    wait_kernel_idle,
)

pytestmark = pytest.mark.timeout(240)

NOTIFICATION = "@jupyterlab/apputils-extension:notification"
STATUS = f"{PANEL} .qbk-Messages [role=status]"
ALERTS = f"{PANEL} .qbk-Messages [role=alert]"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("no-toasts"))
    labconfig = Path(server.env["JUPYTER_CONFIG_DIR"]) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {NOTIFICATION: True}})
    )
    yield from serving(server, {})


@pytest.fixture(scope="module")
def page(browser, lab):
    page = _open_lab(browser, lab)
    try:
        open_sidebar(page)
        yield page
    finally:
        page.context.close()


def told(page, region: str, text: str) -> None:
    """Wait until the sidebar's `region` (STATUS or ALERTS) shows a message with `text`."""
    page.locator(f"{region} .qbk-Message:has-text({text!r})").wait_for(timeout=30_000)


def test_the_notification_plugin_is_off_as_in_qbraid_lab(page):
    assert page.evaluate(f"window.jupyterapp.hasPlugin({NOTIFICATION!r})") is False


def test_key_actions_are_told_in_the_sidebar(page, lab):
    page.click(f"{PANEL} .qbk-Create")
    page.locator(f"{DIALOG} .qbk-Form-input").fill("ci")
    page.click(f"{DIALOG} button.jp-mod-accept")
    read_value_box(page)
    close_value_box(page)
    told(page, STATUS, 'Key "ci" was created and stored in this Lab\'s keyring.')

    ci = row(page, "ci")
    ci.locator(".qbk-Copy").click()
    told(page, STATUS, 'Copied "%qbraid_key use ci".')

    ci.locator(".qbk-Row-toggle").click()
    ci.locator(".qbk-StatusToggle:has-text('Deactivate')").click()
    told(page, STATUS, 'Key "ci" is now inactive.')
    ci.locator(".qbk-StatusToggle:has-text('Activate')").click()
    told(page, STATUS, 'Key "ci" is now active.')

    ci.locator(".qbk-Rotate").click()
    page.click(f"{DIALOG} button.jp-mod-accept:has-text('Regenerate Key')")
    read_value_box(page)
    close_value_box(page)
    told(page, STATUS, 'Key "ci" was regenerated; the old value no longer works.')

    create_via_api(lab, "doomed")
    reload_list(page)
    row(page, "doomed").locator(".qbk-Revoke").click()
    page.click(f"{DIALOG} button.jp-mod-accept:has-text('Revoke')")
    told(page, STATUS, 'Key "doomed" was revoked.')
    assert page.locator(f"{STATUS} .qbk-Message").count() <= 3  # the oldest made room
    assert not page.locator(".Toastify__toast").count()


def test_errors_are_alerts_until_dismissed(page, lab):
    gone = create_via_api(lab, "gone")
    reload_list(page)
    assert lab.keys("DELETE", f"api-keys/{gone['id']}")[0] == 200  # revoked elsewhere
    row(page, "gone").locator(".qbk-Rotate").click()
    page.click(f"{DIALOG} button.jp-mod-accept:has-text('Regenerate Key')")
    told(page, ALERTS, 'The key "gone" no longer exists: it was revoked elsewhere.')
    alert = page.locator(f"{ALERTS} .qbk-Message-error")
    assert alert.count() == 1
    alert.locator(".qbk-Message-dismiss").click()
    assert alert.count() == 0


def test_use_in_notebook_tells_every_outcome(page, lab):
    run_command(page, "application:close-all")
    use = row(page, "ci").locator(".qbk-Use")
    assert use.is_enabled()  # explains itself, rather than staying silently disabled
    use.click()
    told(page, ALERTS, "No notebook is open: open one, then press")

    notebook = {
        "cells": [],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (lab.notebooks / "messages.ipynb").write_text(json.dumps(notebook))
    run_command(page, "docmanager:open", {"path": "messages.ipynb"})
    page.wait_for_selector(".jp-Notebook")
    wait_kernel_idle(page)
    use.click()
    told(page, STATUS, 'Key "ci" is now used by the messages.ipynb kernel.')

    run_command(page, "kernelmenu:shutdown")
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   return w && w.sessionContext && !w.sessionContext.session; }""",
        timeout=30_000,
    )
    use.click()
    told(page, ALERTS, "messages.ipynb has no running kernel. Start one, then try again.")
    assert not page.locator(".Toastify__toast").count()
    run_command(page, "application:close-all")
