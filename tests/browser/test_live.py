"""The sidebar follows key changes live (Contract 4): two tabs of one real `jupyter lab`.

A change made in one tab, over REST, or by a kernel (use, clear) reaches the other tab's
sidebar through the server's event bus, with no reload of the page and no click on Reload.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..lab_server import LabServer, serving
from .test_sidebar import (
    DIALOG,
    PANEL,
    _open_lab,
    close_value_box,
    create_via_api,
    open_sidebar,
    read_value_box,
    row,
)

pytestmark = pytest.mark.timeout(240)

# Well under the sidebar's 60 s poll: an update this fast came from the event stream.
LIVE_MS = 5_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    yield from serving(LabServer(tmp_path_factory.mktemp("live")))


@pytest.fixture(scope="module")
def tabs(browser, lab):
    """Two browser tabs on the same Lab, each with the sidebar open and a reload marker."""
    pages = [_open_lab(browser, lab), _open_lab(browser, lab)]
    for page in pages:
        open_sidebar(page)
        page.evaluate("window.__notReloaded = true")
    try:
        yield pages
    finally:
        for page in pages:
            page.context.close()


def hint_of(page, name: str) -> str:
    return row(page, name).locator(".qbk-Row-hint").inner_text()


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel);"
        " return !!e && e.textContent.includes(text); }",
        arg=[selector, text],
        timeout=LIVE_MS,
    )


def test_changes_in_one_tab_or_over_rest_appear_in_the_other(tabs, lab):
    first, second = tabs
    key = create_via_api(lab, "live-one")  # over REST: both tabs show it
    for page in tabs:
        row(page, "live-one").wait_for(timeout=LIVE_MS)

    row_in_second = f'{PANEL} .qbk-Row[data-key-name="live-one"]'
    old_hint = hint_of(second, "live-one")
    row(first, "live-one").locator(".qbk-Rotate").click()
    first.locator(f"{DIALOG} button.jp-mod-accept:has-text('Regenerate Key')").click()
    new_value = read_value_box(first)
    close_value_box(first)
    new_hint = "qbr_" + new_value[4:8] + "…" + new_value[-4:]
    assert new_hint != old_hint
    wait_text(second, f"{row_in_second} .qbk-Row-hint", new_hint)

    status, _ = lab.keys("PATCH", f"api-keys/{key['id']}", {"status": "inactive"})
    assert status == 200
    wait_text(second, f"{row_in_second} .qbk-Status", "inactive")
    assert row(second, "live-one").locator(".qbk-Use").is_disabled()

    # The details show the audit trail, newest first.
    row(second, "live-one").locator(".qbk-Row-toggle").click()
    history = row(second, "live-one").locator(".qbk-History-event")
    history.first.wait_for(timeout=LIVE_MS)
    actions = [history.nth(i).get_attribute("data-action") for i in range(history.count())]
    assert actions == ["deactivated", "rotated", "created"]

    status, _ = lab.keys("DELETE", f"api-keys/{key['id']}")
    assert status == 200
    second.wait_for_selector(row_in_second, state="detached", timeout=LIVE_MS)
    first.wait_for_selector(
        f'{PANEL} .qbk-Row[data-key-name="live-one"]', state="detached", timeout=LIVE_MS
    )
    for page in tabs:
        assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
        assert new_value not in page.content()


def test_rows_and_confirmations_name_the_notebooks_that_use_a_key(tabs, lab):
    first, second = tabs
    create_via_api(lab, "live-nb")
    status, session = lab.request(
        "POST",
        "api/sessions",
        {"path": "analysis.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert status == 201, session
    kernel_id = session["kernel"]["id"]
    try:
        # A kernel uses the key (as the magic does): both sidebars name its notebook.
        status, answer = lab.request(
            "PUT",
            f"qbraid-keys/kernels/{kernel_id}",
            {"keyId": row_key_id(first, "live-nb")},
        )
        assert status == 200, answer
        for page in tabs:
            wait_text(
                page,
                f'{PANEL} .qbk-Row[data-key-name="live-nb"] .qbk-Row-users',
                "analysis.ipynb",
            )
        row(second, "live-nb").locator(".qbk-Rotate").click()
        dialog = second.locator(DIALOG)
        assert '"analysis.ipynb"' in dialog.inner_text()
        dialog.locator("button.jp-mod-reject").click()
        second.wait_for_selector(DIALOG, state="detached")

        lab.request("DELETE", f"qbraid-keys/kernels/{kernel_id}")
        first.wait_for_selector(
            f'{PANEL} .qbk-Row[data-key-name="live-nb"] .qbk-Row-users',
            state="detached",
            timeout=LIVE_MS,
        )
    finally:
        lab.request("DELETE", f"api/sessions/{session['id']}")


def row_key_id(page, name: str) -> str:
    return row(page, name).get_attribute("data-key-id")
