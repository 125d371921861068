"""Item 4 (sidebar): the JupyterLab sidebar's time to show 1,000 keys, in headless Chromium.

A real `jupyter lab` (embedded key service) gets 1,000 keys through its API first. Then, in
a fresh page, the clock runs from executing the command "qBraid: Manage API Keys" (which
activates the left-area panel and makes it load the keys) until 1,000 `.qbk-Row` elements
are in the panel after the reload the panel does on every show (it also renders them at
start-up, while hidden). Baseline: the browser fetching the same list from the same route.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from .jupyter import JupyterServer
from .load import Connection
from .report import Figure, Run

ITEM = "4 scale"
KEYS = 1000
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
SHOW = """async ([command, rows, count]) => {
  // The panel renders its rows at start-up while hidden and reloads them on every show
  // (aria-busy="true" on .qbk-View while loading): done = the reload finished and
  // `count` rows are in the panel.
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
    if (n >= count && seenBusy) { return [now, seenBusy]; }
    if (n >= count && now > 5000) { return [-1, seenBusy]; }
    if (now > 120000) { return [-1, seenBusy]; }
  }
}"""
FETCH = """async ([url, token]) => {
  const t0 = performance.now();
  const r = await fetch(url, {headers: {Authorization: 'token ' + token}});
  const data = await r.json();
  return [performance.now() - t0, data.data.length];
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


async def _create(url: str, auth: dict[str, str], count: int) -> None:
    headers = {**auth, "Content-Type": "application/json"}

    async def worker(first: int) -> None:
        conn = Connection(url)
        for i in range(first, count, 8):
            body = json.dumps({"name": f"sidebar-{i:04d}"}).encode()
            status, answer = await conn.request(
                "POST", "/qbraid-keys/api/v1/api-keys", headers, body
            )
            if status != 201:
                raise RuntimeError(f"create failed: {status} {answer[:200]!r}")
        await conn.close()

    await asyncio.gather(*(worker(i) for i in range(8)))


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the sidebar figure (or say why it is not available)."""
    reason = missing()
    if reason:
        report.figures.append(Figure(ITEM, f"sidebar: show {KEYS:,} keys", None, "ms", note=reason))
        return
    from playwright.sync_api import sync_playwright

    reps = 1 if quick else 3
    server = JupyterServer(
        tmp / "sidebar",
        {"QbraidKeys": {"db_path": str(tmp / "sidebar.sqlite3")}},
        app="jupyterlab",
    )
    settings = Path(server.env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    shows: list[float] = []
    fetches: list[float] = []
    before: list[int] = []
    reloads: list[bool] = []
    try:
        server.start()
        started = time.perf_counter()
        asyncio.run(_create(server.url, server.auth, KEYS))
        created_s = time.perf_counter() - started
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for _ in range(reps):
                    page = browser.new_page(viewport={"width": 1280, "height": 800})
                    page.set_default_timeout(90_000)
                    page.goto(f"{server.url}/lab?token={server.token}")
                    page.wait_for_selector(TAB)
                    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
                    page.wait_for_timeout(500)
                    before.append(page.eval_on_selector_all(ROWS, "els => els.length"))
                    shown, reloaded = page.evaluate(SHOW, ["qbraid-keys:open", ROWS, KEYS])
                    reloads.append(reloaded)
                    if shown < 0:
                        raise RuntimeError(
                            f"the sidebar did not reload {KEYS} rows on show (reload seen: "
                            f"{reloaded})"
                        )
                    shows.append(shown)
                    url = f"{server.url}/qbraid-keys/api/v1/api-keys"
                    fetched, n = page.evaluate(FETCH, [url, server.token])
                    if n < KEYS:
                        raise RuntimeError(f"the list has {n} keys, not {KEYS}")
                    fetches.append(fetched)
                    page.close()
            finally:
                browser.close()
    finally:
        server.stop()
    report.figures.append(
        Figure(
            ITEM,
            f"sidebar: command -> {KEYS:,} rows shown (reloaded)",
            statistics.median(shows),
            "ms",
            "browser fetching the list",
            statistics.median(fetches),
        )
    )
    report.note(
        ITEM,
        f"sidebar: {reps} fresh page(s); rows already rendered (hidden) before the command: "
        f"{before}; reload on show observed: {reloads}; the figure runs to the end of that "
        "reload (its fetch of the list included). "
        f"{KEYS} keys created through the API in {created_s:.1f} s (8 connections).",
    )
