"""The sidebar with 2,000 keys (issue 13): a windowed list (only the rows in view are in the
DOM), more pages as it scrolls, a server-side search, and live updates that fetch again only
the pages in view. A real `jupyter lab` whose database is seeded before it starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qbraid_keys_ext.service import KeyStore

from ..bulk import create_many
from ..lab_server import LabServer, serving
from .test_sidebar import PANEL, _open_lab, create_via_api, open_sidebar, row

pytestmark = pytest.mark.timeout(240)

KEYS = 2000
MAX_ROWS = 100
LIVE_MS = 5_000
BODY = f"{PANEL} .qbk-Body"
ROWS = f"{PANEL} .qbk-Row"
COUNT = f"{PANEL} .qbk-Search-count"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    root = tmp_path_factory.mktemp("windowed")
    db = root / "keys.sqlite3"
    store = KeyStore(db)
    create_many(store, (f"k{i:05d}" for i in range(KEYS)))
    store.close()
    yield from serving(LabServer(root, f"--QbraidKeys.db_path={db}"))


@pytest.fixture(scope="module")
def page(browser, lab):
    page = _open_lab(browser, lab)
    open_sidebar(page)
    page.wait_for_selector(ROWS)
    try:
        yield page
    finally:
        page.context.close()


def rows_in_dom(page) -> int:
    return page.locator(ROWS).count()


def scroll_until(page, selector: str) -> int:
    """Scroll the list down, a screen a frame, until `selector` is shown; most rows seen."""
    return page.evaluate(
        """async ([body, rows, wanted]) => {
             const element = document.querySelector(body);
             let most = 0;
             const t0 = performance.now();
             while (!document.querySelector(wanted)) {
               element.scrollTop += element.clientHeight;
               await new Promise(requestAnimationFrame);
               most = Math.max(most, document.querySelectorAll(rows).length);
               if (performance.now() - t0 > 120000) { throw new Error('not reached: ' + wanted); }
             }
             return most;
           }""",
        [BODY, ROWS, selector],
    )


def to_top(page) -> None:
    page.evaluate("(body) => { document.querySelector(body).scrollTop = 0; }", BODY)
    page.wait_for_selector(f'{ROWS}[aria-posinset="1"]')


def test_first_page_shows_a_window_of_rows(page):
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.textContent === text",
        arg=[COUNT, f"{KEYS:,} keys"],
    )
    assert 3 <= rows_in_dom(page) <= 30
    first = page.locator(ROWS).first
    assert first.get_attribute("data-key-name") == f"k{KEYS - 1:05d}"  # newest first
    assert first.get_attribute("aria-setsize") == str(KEYS)


def test_scrolling_to_the_end_keeps_at_most_100_rows(page):
    most = scroll_until(page, f'{ROWS}[aria-posinset="{KEYS}"]')
    assert most <= MAX_ROWS
    last = page.locator(f'{ROWS}[aria-posinset="{KEYS}"]')
    assert last.get_attribute("data-key-name") == "k00000"
    assert rows_in_dom(page) <= MAX_ROWS
    # every key was loaded once: positions 1..2000 map to k01999..k00000
    middle = page.locator(f"{ROWS}").first
    position = int(middle.get_attribute("aria-posinset"))
    assert middle.get_attribute("data-key-name") == f"k{KEYS - position:05d}"
    to_top(page)


def test_search_asks_the_server(page):
    search = page.locator(f"{PANEL} .qbk-Search-input")
    search.fill("K0199")
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.textContent === text",
        arg=[COUNT, "10 matching"],
    )
    names = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.keyName)")
    expected = [f"k{i:05d}" for i in range(1999, 1989, -1)]
    assert len(names) >= 5 and names == expected[: len(names)]  # the rows in view
    scroll_until(page, f'{ROWS}[data-key-name="k01990"]')
    assert page.locator(f'{ROWS}[aria-posinset="10"]').get_attribute("data-key-name") == "k01990"
    search.fill("no-such-key")
    page.locator(f"{PANEL} .qbk-State-nomatch").wait_for()
    search.fill("")
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.textContent === text",
        arg=[COUNT, f"{KEYS:,} keys"],
    )
    assert page.locator(ROWS).first.get_attribute("data-key-name") == f"k{KEYS - 1:05d}"


def test_details_fetch_the_usage_series(page):
    target = row(page, f"k{KEYS - 1:05d}")
    target.locator(".qbk-Row-toggle").click()
    target.locator(".qbk-Chart").wait_for()
    assert "0 in total, 0 in the last 30 days" in target.locator(".qbk-Facts").inner_text()
    target.locator(".qbk-Row-toggle").click()


def test_live_updates_fetch_the_pages_in_view_again(page, lab):
    """Deep in the list, a rename, a revoke and a create show up without a reload; the rows
    below and above stay in order, none twice."""
    scroll_until(page, f'{ROWS}[data-key-name="k00700"]')
    page.evaluate("(body) => { window.__marker = document.querySelector(body); }", BODY)
    status, found = lab.keys("GET", "api-keys?name=k00700")
    assert status == 200
    renamed_id = found["data"][0]["id"]
    status, _ = lab.keys("PATCH", f"api-keys/{renamed_id}", {"name": "renamed-700"})
    assert status == 200
    row(page, "renamed-700").wait_for(timeout=LIVE_MS)
    _, gone = lab.keys("GET", "api-keys?name=k00701")
    status, _ = lab.keys("DELETE", f"api-keys/{gone['data'][0]['id']}")
    assert status == 200
    row(page, "k00701").wait_for(state="detached", timeout=LIVE_MS)
    create_via_api(lab, "fresh")
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.textContent === text",
        arg=[COUNT, f"{KEYS:,} keys"],  # one revoked, one created
        timeout=LIVE_MS,
    )
    names = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.keyName)")
    assert len(names) == len(set(names)) and "k00701" not in names
    assert page.evaluate("(body) => window.__marker === document.querySelector(body)", BODY)
    to_top(page)
    assert page.locator(ROWS).first.get_attribute("data-key-name") == "fresh"
    positions = page.locator(ROWS).evaluate_all(
        "rows => rows.map(r => Number(r.getAttribute('aria-posinset')))"
    )
    assert positions == list(range(1, len(positions) + 1))
