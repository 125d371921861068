"""Item 4 (sidebar): the JupyterLab sidebar with 10 and with 10,000 keys, in headless Chromium.

Two real `jupyter lab` servers (embedded key service), one whose account holds 10 keys, one
10,000, are measured in alternation. In a fresh page each time, the clock runs from
executing the command "qBraid: Manage API Keys" (which activates the left-area panel and
makes it reload the keys in view) until that reload is done and the first rows are shown;
the 10-key figure is the baseline of the 10,000-key one. Then, with 10,000 keys, the list is
scrolled to its end (each frame to the bottom, so that it loads page after page) while the
number of rows in the DOM is sampled every frame.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path

from . import accounts
from .jupyter import JupyterServer
from .report import Figure, Run

ITEM = "4 scale"
SMALL, LARGE = 10, 10_000
MAX_ROWS = 100
CHROMIUM = os.environ.get("QBRAID_KEYS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TAB = '.jp-SideBar .lm-TabBar-tab[data-id="qbraid-keys-sidebar"]'
ROWS = "#qbraid-keys-sidebar .qbk-Row"
SHOW = """async ([command, rows]) => {
  // The panel renders its first page at start-up while hidden and reloads the keys in view
  // on every show (aria-busy="true" on .qbk-View while loading): done = that reload
  // finished and rows are shown.
  const view = () => document.querySelector('#qbraid-keys-sidebar .qbk-View');
  const busy = () => view() && view().getAttribute('aria-busy') === 'true';
  // Start from the panel hidden (a restored workspace may have left it open).
  window.jupyterapp.shell.activateById('filebrowser');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const t0 = performance.now();
  await window.jupyterapp.commands.execute(command);
  let seenBusy = busy();
  while (true) {
    await new Promise(requestAnimationFrame);
    const now = performance.now() - t0;
    if (busy()) { seenBusy = true; continue; }
    const n = document.querySelectorAll(rows).length;
    if (n > 0 && seenBusy) { return [now, n]; }
    if (now > 60000) { return [-1, n]; }
  }
}"""
SCROLL = """async ([total, rows]) => {
  // Scroll to the bottom every frame until the last key's row (aria-posinset = total) is
  // shown; the most rows ever in the DOM at once is the figure.
  const body = document.querySelector('#qbraid-keys-sidebar .qbk-Body');
  const last = `#qbraid-keys-sidebar .qbk-Row[aria-posinset="${total}"]`;
  const t0 = performance.now();
  let most = 0;
  let frames = 0;
  while (true) {
    body.scrollTop = body.scrollHeight;
    await new Promise(requestAnimationFrame);
    frames++;
    const n = document.querySelectorAll(rows).length;
    most = Math.max(most, n);
    if (document.querySelector(last)) { return [performance.now() - t0, most, n, frames]; }
    if (performance.now() - t0 > 600000) { return [-1, most, n, frames]; }
  }
}"""


def missing() -> str | None:
    """Why the sidebar cannot be measured here, or None."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} is missing"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    from jupyter_core.paths import jupyter_path

    built = [Path(p) / "labextensions" / "qbraid-keys-ext" / "package.json" for p in jupyter_path()]
    if not any(p.exists() for p in built):
        return "the labextension is not built/installed"
    return None


def lab_server(root: Path, db: Path) -> JupyterServer:
    """A `jupyter lab` (not started yet) on the key database `db`, with news fetching off."""
    server = JupyterServer(root, {"QbraidKeys": {"db_path": str(db)}}, app="jupyterlab")
    settings = Path(server.env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    return server


def lab_page(browser, server: JupyterServer):
    """A fresh page with Lab started in it."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    page.goto(f"{server.url}/lab?token={server.token}")
    page.wait_for_selector(TAB)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
    return page


def _show(browser, server: JupyterServer) -> tuple[float, int]:
    """Command -> first rows shown, in a fresh page; (ms, rows in the DOM)."""
    page = lab_page(browser, server)
    try:
        page.wait_for_timeout(500)
        shown, rows = page.evaluate(SHOW, ["qbraid-keys:open", ROWS])
        if shown < 0:
            raise RuntimeError(f"the sidebar did not show its keys after the command ({rows})")
        return shown, rows
    finally:
        page.close()


def _scroll(browser, server: JupyterServer) -> tuple[float, int, int, int]:
    """Scroll to the end of every key; (ms, most rows in the DOM, rows at the end, frames)."""
    page = lab_page(browser, server)
    try:
        page.evaluate("() => window.jupyterapp.commands.execute('qbraid-keys:open')")
        page.wait_for_selector(ROWS)
        took, most, end, frames = page.evaluate(SCROLL, [LARGE, ROWS])
        if took < 0:
            raise RuntimeError(f"the last key was not reached ({end} rows, {frames} frames)")
        return took, most, end, frames
    finally:
        page.close()


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the sidebar figures (or say why they are not available)."""
    reason = missing()
    if reason:
        report.figures.append(
            Figure(ITEM, f"sidebar: {LARGE:,} keys", None, "ms", note=reason, target="ratio <= 2")
        )
        return
    from playwright.sync_api import sync_playwright

    reps = 4 if quick else 8
    servers: dict[int, JupyterServer] = {}
    filled = 0.0
    for count in (SMALL, LARGE):
        db = tmp / f"sidebar-{count}.sqlite3"
        started = time.perf_counter()
        accounts.fill(db, count, "key")
        filled = time.perf_counter() - started
        servers[count] = lab_server(tmp / f"sidebar-{count}", db)
    shows: dict[int, list[float]] = {SMALL: [], LARGE: []}
    rows: dict[int, list[int]] = {SMALL: [], LARGE: []}
    try:
        for server in servers.values():
            server.start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for server in servers.values():
                    _show(browser, server)  # a server's first Lab page is slower: not counted
                for i in range(reps):  # alternating, so that other load hits both alike
                    for count in (SMALL, LARGE) if i % 2 == 0 else (LARGE, SMALL):
                        shown, n = _show(browser, servers[count])
                        shows[count].append(shown)
                        rows[count].append(n)
                took, most, end, frames = _scroll(browser, servers[LARGE])
            finally:
                browser.close()
    finally:
        for server in servers.values():
            server.stop()
    small, large = statistics.median(shows[SMALL]), statistics.median(shows[LARGE])
    report.figures.append(
        Figure(
            ITEM,
            f"sidebar: command -> first rows shown, {LARGE:,} keys",
            large,
            "ms",
            f"{SMALL} keys",
            small,
            "ratio <= 2",
            large / small <= 2,
        )
    )
    report.figures.append(
        Figure(
            ITEM,
            f"sidebar: most rows in the DOM while scrolling to the end of {LARGE:,} keys",
            most,
            "rows",
            target=f"<= {MAX_ROWS} rows",
            met=most <= MAX_ROWS,
        )
    )
    report.note(
        ITEM,
        f"sidebar: {reps} fresh pages per account size, alternating between two Labs; "
        "command -> first rows: "
        f"{SMALL} keys {[round(x) for x in shows[SMALL]]} ms, {LARGE:,} keys "
        f"{[round(x) for x in shows[LARGE]]} ms; rows in the DOM then: {rows[SMALL]} and "
        f"{rows[LARGE]}. The figure runs to the end of the reload the panel does on every "
        "show (the first page, of 50 keys, and the pages in view fetched again). "
        f"The {LARGE:,} keys were written into their database in {filled:.1f} s, before Lab "
        "started. "
        f"Scrolling to the end of {LARGE:,} keys (to the bottom every frame, {frames:,} frames, "
        f"{LARGE // 50} pages of 50 loaded as the list reached its end) took {took / 1000:.1f} s; "
        f"at most {most} rows were in the DOM at once, {end} at the end.",
    )
