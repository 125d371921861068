"""The JupyterLab sidebar in a real browser: a real `jupyter lab` on loopback with the
embedded key service, driven through headless Debian Chromium by Playwright.

Skipped when Chromium or Playwright is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..lab_server import (
    QUIET,
    LabServer,
    free_port,
    isolated_env,
    run_command,
    serving,
    write_settings,
)

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
KEY_VALUE = re.compile(r"qbr_[0-9a-f]{64}")
TAB = '.jp-SideBar .lm-TabBar-tab[data-id="qbraid-keys-sidebar"]'
PANEL = "#qbraid-keys-sidebar"
DIALOG = ".jp-Dialog"
# GET requests carry a cache-busting query (ServerConnection.makeRequest)
LIST_URL = re.compile(r"/qbraid-keys/api/v1/api-keys(\?[^/]*)?$")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    yield from serving(LabServer(tmp_path_factory.mktemp("lab")))


def _open_lab(browser, server: LabServer, path: str = "lab"):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url[:-1])
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.lab_url(path))
    page.wait_for_selector(TAB, timeout=60_000)
    return page


@pytest.fixture(scope="module")
def page(browser, lab):
    page = _open_lab(browser, lab)
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture(autouse=True)
def _no_dialog_left(request):
    """Each test starts with the sidebar open and no dialog on screen."""
    yield
    if "page" in request.fixturenames:
        page = request.getfixturevalue("page")
        for _ in range(3):
            if not page.locator(DIALOG).count():
                break
            page.keyboard.press("Escape")
            page.wait_for_timeout(200)


# --- helpers -------------------------------------------------------------------------------


def open_sidebar(page) -> None:
    if not page.locator(PANEL).is_visible():
        page.click(TAB)
    page.wait_for_selector(f"{PANEL} .qbk-Header", state="visible")


def reload_list(page) -> None:
    open_sidebar(page)
    page.click(f"{PANEL} .qbk-Reload")
    page.wait_for_selector(f'{PANEL} .qbk-View[aria-busy="false"]')


def wait_kernel_idle(page) -> None:
    """Wait until the current notebook's kernel has started and is idle."""
    page.wait_for_function(
        """() => {
             const w = window.jupyterapp.shell.currentWidget;
             const k = w && w.sessionContext && w.sessionContext.session
               && w.sessionContext.session.kernel;
             return k && k.status === 'idle';
           }""",
        timeout=60_000,
    )


def save_notebook(page) -> None:
    run_command(page, "docmanager:save")
    page.wait_for_function(
        """() => {
             const w = window.jupyterapp.shell.currentWidget;
             return w && w.context && !w.context.model.dirty;
           }"""
    )


def row(page, name: str):
    return page.locator(f'{PANEL} .qbk-Row[data-key-name="{name}"]')


def upstream_url(server: LabServer) -> str:
    status, answer = server.request("GET", "qbraid-keys/status")
    assert status == 200, answer
    return answer["upstream"]["url"].rstrip("/")


def verify(server: LabServer, value: str) -> tuple[int, dict]:
    """Use a key value against the key service, as qbraid-core would."""
    request = urllib.request.Request(
        f"{upstream_url(server)}/api/v1/users/verify", headers={"X-API-Key": value}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def create_via_api(server: LabServer, name: str, **body) -> dict:
    status, answer = server.keys("POST", "api-keys", {"name": name, **body})
    assert status == 201, answer
    return answer["data"]


def read_value_box(page) -> str:
    box = page.locator(f"{DIALOG} .qbk-Secret-value")
    box.wait_for(state="visible")
    value = box.input_value()
    assert KEY_VALUE.fullmatch(value), "the one-time box must hold a key value"
    return value


def close_value_box(page) -> None:
    page.click(f"{DIALOG} button.jp-mod-accept:has-text('Done')")
    page.wait_for_selector(DIALOG, state="detached")


def assert_nowhere_on_page(page, *values: str) -> None:
    html = page.content()
    for value in values:
        assert value not in html, "a key value is still in the page's DOM"
        in_fields = page.evaluate(
            """v => Array.from(document.querySelectorAll('input, textarea'))
                     .some(e => (e.value || '').includes(v))""",
            value,
        )
        assert not in_fields, "a key value is still in a form field"


# --- tests ---------------------------------------------------------------------------------


def test_sidebar_opens_from_key_icon_and_palette(page):
    tab = page.locator(TAB)
    assert tab.get_attribute("title") == "qBraid API Keys"
    if page.locator(PANEL).is_visible():
        tab.click()
    page.wait_for_selector(PANEL, state="hidden")

    tab.click()
    page.wait_for_selector(PANEL, state="visible")
    assert page.locator(f"{PANEL} .qbk-Title").inner_text().lower() == "api keys"
    empty = page.locator(f"{PANEL} .qbk-State-empty")
    empty.wait_for()
    assert "No API keys yet — create one" in empty.inner_text()

    tab.click()
    page.wait_for_selector(PANEL, state="hidden")
    page.locator("#jp-main-dock-panel").click()
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".jp-ModalCommandPalette input, .lm-CommandPalette-input").first
    palette.wait_for(state="visible")
    palette.fill("qBraid: Manage API Keys")
    # Enter runs the active item: wait until the filter has made it ours (under load the
    # palette may still show its earlier list for a moment).
    item = page.locator(
        ".lm-CommandPalette-item.lm-mod-active:has-text('qBraid: Manage API Keys')"
    ).first
    item.wait_for(state="visible")
    page.keyboard.press("Enter")
    page.wait_for_selector(PANEL, state="visible")


def test_create_shows_value_once_then_clears_it(page, lab):
    open_sidebar(page)
    page.click(f"{PANEL} .qbk-Create")
    dialog = page.locator(DIALOG)
    dialog.wait_for()
    assert "Create API Key" in dialog.locator(".jp-Dialog-header").inner_text()
    dialog.locator(".qbk-Form-input").fill("ci")
    # Least privilege: only the read-only permissions are ticked; jobs:write says it spends.
    ticked = dialog.locator(".qbk-Form-scopes input[type=checkbox]:checked")
    assert [ticked.nth(i).get_attribute("value") for i in range(ticked.count())] == [
        "devices:read",
        "jobs:read",
        "credits:read",
    ]
    spending = dialog.locator(".qbk-Form-check:has(.qbk-Form-credits) input")
    assert spending.count() == 1 and spending.get_attribute("value") == "jobs:write"
    dialog.locator(".qbk-Form-scopes input[value='jobs:write']").check()
    dialog.locator(".qbk-Form-scopes input[value='credits:read']").uncheck()
    dialog.locator("button.jp-mod-accept").click()

    value = read_value_box(page)
    assert "only time" in page.locator(f"{DIALOG} .qbk-Secret").inner_text()
    page.click(f"{DIALOG} .qbk-Secret-copy")
    page.wait_for_selector(f"{DIALOG} .qbk-Secret-copy:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == value
    page.evaluate("navigator.clipboard.writeText('')")
    close_value_box(page)
    assert_nowhere_on_page(page, value)

    ci = row(page, "ci")
    ci.wait_for()
    hint = ci.locator(".qbk-Row-hint").inner_text()
    assert hint.startswith(value[:8]) and hint.endswith(value[-4:])
    assert "last used never" in ci.inner_text().lower()
    listed = {key["name"]: key for key in lab.keys("GET", "api-keys")[1]["data"]}
    assert "credits:read" not in listed["ci"]["scopes"]
    stored = ci.locator(".qbk-Badge-stored").count() == 1
    assert stored == bool(listed["ci"].get("stored"))

    # The value really works (and this counts one use for the details below).
    status, answer = verify(lab, value)
    assert status == 200, answer

    # A taken name, in any case, is refused in the form, which stays open with the sentence.
    page.click(f"{PANEL} .qbk-Create")
    page.locator(f"{DIALOG} .qbk-Form-input").fill("CI")
    page.locator(f"{DIALOG} button.jp-mod-accept").click()
    error = page.locator(f"{DIALOG} .qbk-Form-error")
    error.wait_for()
    assert 'A key named "ci" already exists (names are unique regardless of case)' in (
        error.inner_text()
    )
    page.locator(f"{DIALOG} button.jp-mod-reject").click()
    page.wait_for_selector(DIALOG, state="detached")


def test_a_long_name_is_kept_whole_and_its_limit_shown(page, lab):
    open_sidebar(page)
    page.click(f"{PANEL} .qbk-Create")
    dialog = page.locator(DIALOG)
    assert "at most 64 characters" in dialog.locator(".qbk-Form-nameLabel").inner_text()
    count = dialog.locator(".qbk-Form-count")
    assert count.inner_text() == "0/64"
    pasted = "a-name-pasted-from-a-ticket-that-is-much-longer-than-a-key-name-may-be"
    field = dialog.locator(".qbk-Form-input")
    field.focus()
    page.keyboard.insert_text(pasted)  # as a paste does: one input event
    assert field.input_value() == pasted  # not cut
    assert count.inner_text() == f"{len(pasted)}/64"
    assert "qbk-mod-over" in count.get_attribute("class")
    dialog.locator("button.jp-mod-accept").click()
    error = page.locator(f"{DIALOG} .qbk-Form-error")
    error.wait_for()
    assert f"at most 64 characters long; this one has {len(pasted)}" in error.inner_text()
    assert page.locator(f"{DIALOG} .qbk-Form-input").input_value() == pasted
    page.locator(f"{DIALOG} button.jp-mod-reject").click()
    page.wait_for_selector(DIALOG, state="detached")
    names = [key["name"] for key in lab.keys("GET", "api-keys")[1]["data"]]
    assert not [name for name in names if name.startswith("a-name-pasted")]


def test_create_without_storing_here(page, lab):
    open_sidebar(page)
    page.click(f"{PANEL} .qbk-Create")
    dialog = page.locator(DIALOG)
    dialog.locator(".qbk-Form-input").fill("elsewhere")
    dialog.locator(".qbk-Form-check:has-text('keyring') input").uncheck()
    dialog.locator(".qbk-Form-input").press("Enter")
    value = read_value_box(page)
    assert "Not stored in this Lab" in page.locator(f"{DIALOG} .qbk-Secret").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector(DIALOG, state="detached")
    assert_nowhere_on_page(page, value)
    target = row(page, "elsewhere")
    target.locator(".qbk-Badge-remote").wait_for()
    assert target.locator(".qbk-Use").is_disabled()
    listed = {key["name"]: key for key in lab.keys("GET", "api-keys")[1]["data"]}
    assert listed["elsewhere"]["stored"] is False


def test_row_expands_to_details(page):
    reload_list(page)
    ci = row(page, "ci")
    toggle = ci.locator(".qbk-Row-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    details = ci.locator(".qbk-Details")
    details.wait_for(state="visible")
    text = details.inner_text()
    for label in ("Created", "Rotated", "Last used", "Status", "Permissions", "Usage"):
        assert label in text
    assert "jobs:write" in text and "credits:read" not in text
    assert "1 in total" in text
    ci.locator(".qbk-Chart-bar").first.wait_for()  # the daily series comes with the details
    assert ci.locator(".qbk-Chart-bar").count() == 30
    assert ci.locator(".qbk-Chart-bar:not(.qbk-mod-zero)").count() == 1
    assert "last used never" not in ci.inner_text().lower()

    # Keyboard: the row header is a real button; Enter and Space toggle it.
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not details.is_visible()
    page.keyboard.press(" ")
    assert toggle.get_attribute("aria-expanded") == "true"


def test_rotate_shows_new_value_once_and_old_value_stops(page, lab):
    old_value = create_via_api(lab, "rotating")["value"]
    reload_list(page)
    target = row(page, "rotating")
    old_hint = target.locator(".qbk-Row-hint").inner_text()
    rotate = target.locator(".qbk-Rotate")
    assert rotate.get_attribute("aria-label") == "Regenerate key rotating"
    rotate.click()
    dialog = page.locator(DIALOG)
    assert "Regenerate Key" in dialog.locator(".jp-Dialog-header").inner_text()
    assert "stops working at once" in dialog.inner_text()
    dialog.locator("button.jp-mod-accept:has-text('Regenerate Key')").click()

    new_value = read_value_box(page)
    assert new_value != old_value
    close_value_box(page)
    assert_nowhere_on_page(page, new_value, old_value)

    page.wait_for_function(
        """([sel, old]) => {
             const hint = document.querySelector(sel);
             return hint && hint.textContent !== old;
           }""",
        arg=[f'{PANEL} .qbk-Row[data-key-name="rotating"] .qbk-Row-hint', old_hint],
    )
    assert verify(lab, old_value)[0] == 401
    assert verify(lab, new_value)[0] == 200


def test_deactivate_and_activate(page, lab):
    value = create_via_api(lab, "toggled")["value"]
    reload_list(page)
    target = row(page, "toggled")
    target.locator(".qbk-Row-toggle").click()
    target.locator(".qbk-StatusToggle:has-text('Deactivate')").click()
    target.locator(".qbk-Status:has-text('inactive')").wait_for()
    status, answer = verify(lab, value)
    assert status == 401 and answer["error"]["code"] == "API_KEY_INACTIVE"
    assert target.locator(".qbk-Use").is_disabled()

    target.locator(".qbk-StatusToggle:has-text('Activate')").click()
    target.locator(".qbk-Status:text-is('active')").wait_for()
    assert verify(lab, value)[0] == 200


def test_revoke_removes_the_row(page, lab):
    created = create_via_api(lab, "doomed")
    reload_list(page)
    target = row(page, "doomed")
    target.locator(".qbk-Revoke").click()
    dialog = page.locator(DIALOG)
    assert "Revoke API Key" in dialog.locator(".jp-Dialog-header").inner_text()
    assert "cannot be restored" in dialog.inner_text()
    dialog.locator("button.jp-mod-accept:has-text('Revoke')").click()
    target.wait_for(state="detached")
    # Keyboard focus moves to the row that took the revoked row's place (or to Create when
    # the list is empty), once the row is gone from the DOM, not to the row being removed.
    page.wait_for_function(
        """sel => { const a = document.activeElement;
                    return a !== null && a.closest(sel) !== null
                      && a.matches('.qbk-Row-toggle, .qbk-Create'); }""",
        arg=PANEL,
    )
    assert lab.keys("GET", f"api-keys/{created['id']}")[0] == 404
    assert verify(lab, created["value"])[0] == 401


VERIFY_CELL = (
    "from qbraid_core.sessions import QbraidSessionV1\n"
    "meta = QbraidSessionV1().get_user_auth_metadata()\n"
    "print('VERIFIED', meta['apiKey']['name'])"
)


def test_use_in_notebook(browser, lab, page):
    value = create_via_api(lab, "nb key")["value"]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "verify",
                "metadata": {},
                "outputs": [],
                "source": VERIFY_CELL,
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = lab.notebooks / "use-key.ipynb"
    path.write_text(json.dumps(notebook))

    page.goto(lab.lab_url("lab/tree/use-key.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_kernel_idle(page)
    reload_list(page)
    use = row(page, "nb key").locator(".qbk-Use")
    page.wait_for_function(
        "sel => { const b = document.querySelector(sel); return b && !b.disabled; }",
        arg=f'{PANEL} .qbk-Row[data-key-name="nb key"] .qbk-Use',
    )
    use.click()
    toast = page.locator(".Toastify__toast:has-text('is now used by')")
    toast.wait_for(timeout=30_000)
    assert "use-key.ipynb" in toast.inner_text()
    # The same message in the sidebar too (qBraid Lab has no toasts: test_messages.py).
    told = page.locator(f"{PANEL} [role=status] .qbk-Message:has-text('is now used by')")
    assert "use-key.ipynb" in told.inner_text()
    # The silent execute wrote nothing into the notebook.
    assert page.locator(".jp-Notebook .jp-OutputArea-output").count() == 0
    assert page.locator(".jp-Notebook .jp-Cell").count() == 1

    run_command(page, "notebook:run-all-cells")
    output = page.locator(".jp-Notebook .jp-OutputArea-output")
    output.first.wait_for(timeout=60_000)
    page.wait_for_function(
        """() => document.querySelector('.jp-Notebook .jp-OutputArea')
                   .innerText.includes('VERIFIED')""",
        timeout=60_000,
    )
    assert "VERIFIED nb key" in output.first.inner_text()
    save_notebook(page)
    saved = path.read_text()
    assert "VERIFIED nb key" in saved
    assert value not in saved and not KEY_VALUE.search(saved)
    assert_nowhere_on_page(page, value)
    run_command(page, "application:close-all")


DEMO_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "markdown",
            "id": "intro",
            "metadata": {},
            "source": "Pick a key in the **API Keys** sidebar and press *Use in notebook*, or:",
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "magic",
            "metadata": {},
            "outputs": [],
            "source": "%load_ext qbraid_keys_ext\n%qbraid_key use laptop",
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "sdk",
            "metadata": {},
            "outputs": [],
            "source": "from qbraid_core.sessions import QbraidSessionV1\n"
            "QbraidSessionV1().get_user_auth_metadata()['apiKey']",
        },
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def dismiss_toasts(page) -> None:
    """Close the toasts and the sidebar's messages."""
    page.evaluate(
        "document.querySelectorAll('.Toastify__close-button, .qbk-Message-dismiss')"
        ".forEach(b => b.click())"
    )
    page.wait_for_selector(".Toastify__toast", state="detached")
    page.wait_for_selector(f"{PANEL} .qbk-Message", state="detached")


def widen_sidebar(page, width: int) -> None:
    box = page.locator("#jp-left-stack").bounding_box()
    handle_x = box["x"] + box["width"] + 1
    page.mouse.move(handle_x, 400)
    page.mouse.down()
    page.mouse.move(box["x"] + width, 400, steps=5)
    page.mouse.up()


def test_screenshots_light_and_dark(page, lab):
    """The README's pictures: the panel with a few keys, one expanded, no value on screen."""
    names = {key["name"] for key in lab.keys("GET", "api-keys")[1]["data"]}
    if "ci" not in names:
        verify(lab, create_via_api(lab, "ci")["value"])
    laptop = create_via_api(lab, "laptop")["value"]
    for _ in range(3):
        assert verify(lab, laptop)[0] == 200
    (lab.notebooks / "demo.ipynb").write_text(json.dumps(DEMO_NOTEBOOK))

    run_command(page, "application:close-all")
    run_command(page, "docmanager:open", {"path": "demo.ipynb"})
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    wait_kernel_idle(page)
    save_notebook(page)
    reload_list(page)
    for toggle in page.locator(f'{PANEL} .qbk-Row-toggle[aria-expanded="true"]').all():
        toggle.click()
    row(page, "laptop").locator(".qbk-Row-toggle").click()
    widen_sidebar(page, 330)
    dismiss_toasts(page)
    page.mouse.move(900, 700)
    assert not page.locator(DIALOG).count()
    assert not KEY_VALUE.search(page.content())

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "sidebar-light.png"))

    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_selector('body[data-jp-theme-name="JupyterLab Dark"]', state="attached")
    page.wait_for_timeout(800)
    assert not KEY_VALUE.search(page.content())
    page.screenshot(path=str(SCREENSHOTS / "sidebar-dark.png"))
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_selector('body[data-jp-theme-name="JupyterLab Light"]', state="attached")
    run_command(page, "application:close-all")


def test_age_and_idle_badges_follow_the_setting(browser, lab):
    """A 120-day-old, never-used key gets both reminders; `ageWarningDays` moves the first."""
    create_via_api(lab, "old")
    aged = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120 * 86400))

    def age_keys(route):
        response = route.fetch()
        answer = response.json()
        for key in answer.get("data", []):
            if key["name"] == "old":
                key.update(createdAt=aged, rotatedAt=None, lastUsedAt=None)
        route.fulfill(response=response, json=answer)

    def badges(page) -> str:
        reload_list(page)
        target = row(page, "old")
        target.wait_for()
        return target.locator(".qbk-Row-badges").inner_text()

    page = _open_lab(browser, lab)
    try:
        page.route(LIST_URL, age_keys)
        text = badges(page)
        assert "90+ days old" in text and "unused 30+ days" in text
        page.context.close()

        settings = {"ageWarningDays": 365, "unusedWarningDays": 30}
        status, _ = lab.request(
            "PUT", "lab/api/settings/qbraid-keys-ext:plugin", {"raw": json.dumps(settings)}
        )
        assert status == 204
        page = _open_lab(browser, lab)
        page.route(LIST_URL, age_keys)
        text = badges(page)
        assert "days old" not in text and "unused 30+ days" in text
    finally:
        page.context.close()
        lab.request("PUT", "lab/api/settings/qbraid-keys-ext:plugin", {"raw": "{}"})


def test_upstream_down_message_and_retry(browser, tmp_path_factory):
    """A closed upstream port: the panel says so with the server's sentence; Retry recovers."""
    root = tmp_path_factory.mktemp("down")
    port = free_port()
    token = "browser-test-account-token"
    server = LabServer(
        root,
        f"--QbraidKeys.upstream_url=http://127.0.0.1:{port}",
        f"--QbraidKeys.access_token={token}",
    )
    write_settings(server, QUIET)
    server.start()
    service = None
    page = None
    try:
        status, answer = server.keys("GET", "api-keys")
        assert status == 502 and answer["error"]["code"] == "UPSTREAM_UNAVAILABLE"

        page = _open_lab(browser, server)
        open_sidebar(page)
        box = page.locator(f"{PANEL} .qbk-State-error")
        box.wait_for()
        text = box.inner_text()
        assert "The key service is unreachable" in text
        assert answer["message"] in text
        assert "Traceback" not in text
        retry = box.locator("button:has-text('Retry')")
        assert retry.is_visible()

        # Bring the upstream up on that port, then Retry: the (empty) list appears.
        env = isolated_env(root / "service")
        env["QBRAID_KEYS_ACCESS_TOKEN"] = token
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qbraid_keys_ext.service",
                "--db",
                str(root / "service.sqlite3"),
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while server.keys("GET", "api-keys")[0] != 200:
            assert time.monotonic() < deadline, "the standalone key service did not start"
            assert service.poll() is None, service.stdout.read().decode(errors="replace")
            time.sleep(0.2)
        retry.click()
        empty = page.locator(f"{PANEL} .qbk-State-empty")
        empty.wait_for()
        assert "No API keys yet" in empty.inner_text()
    finally:
        if page is not None:
            page.context.close()
        if service is not None:
            service.terminate()
            service.wait(10)
        server.stop()
