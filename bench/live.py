"""Item 9 (live): how soon a key change made over REST shows in the sidebar and in the panel.

One real `jupyter lab` (embedded key service, a few keys) and one headless Chromium page with
the sidebar open. Key changes are made over the Jupyter REST route from this process, as
another client would: a rename (`PATCH .../api-keys/{id}` with a new name), a status change
(`PATCH` with `status`) and a rotate (`POST .../rotate`), in turn. Before each change a
MutationObserver is armed in the page; it takes `performance.timeOrigin + performance.now()`
at the first DOM mutation after which the change is visible (the new name, the new status
badge, the new hint), so Playwright's polling adds nothing to the figure. The clock runs from
the moment this process has read the change's answer; page and process clocks are matched
once (the offset with the shortest round trip of a few tries). Then a notebook showing
`KeysPanel()` is opened in the same page, its kernel left idle, and the same changes are timed
to the panel's rendered output.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import nbformat

from . import accounts
from .jupyter import JupyterServer
from .report import Figure, Run
from .sidebar import CHROMIUM, CHROMIUM_ARGS, ROWS, lab_page, lab_server, missing

ITEM = "9 live"
SIDEBAR_MS, PANEL_MS = 1000.0, 2000.0
KEYS = 5
API = "/qbraid-keys/api/v1/"
HERE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
PANEL_ROWS = f"{HERE} .qbraid-keys-panel .qbraid-keys-row"
PANEL_CELL = "from qbraid_keys_ext import KeysPanel\nKeysPanel()"
SHOWN = """(spec) => Array.from(document.querySelectorAll(spec.sel)).some((e) =>
  spec.all.every((t) => e.textContent.includes(t))
  && !(spec.none || []).some((t) => e.textContent.includes(t)))"""
ARM = """(spec) => {
  // Time (epoch ms) of the first DOM mutation after which some element matching spec.sel
  // holds every text of spec.all and none of spec.none: taken in the observer's callback,
  // before the next paint.
  const shown = () => (SHOWN)(spec);
  if (window.__qbkWatch) { window.__qbkWatch.disconnect(); }
  window.__qbkSeen = null;
  window.__qbkEvent = null;  // the first key event the page's event stream brings after this
  if (!window.__qbkListening) {
    window.__qbkListening = true;
    window.jupyterapp.serviceManager.events.stream.connect((_, event) => {
      if (window.__qbkEvent === null && String(event.schema_id).endsWith('/key/v1')) {
        window.__qbkEvent = performance.timeOrigin + performance.now();
      }
    });
  }
  if (shown()) { return false; }
  const watch = new MutationObserver(() => {
    if (window.__qbkSeen === null && shown()) {
      window.__qbkSeen = performance.timeOrigin + performance.now();
      watch.disconnect();
    }
  });
  watch.observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
  window.__qbkWatch = watch;
  return true;
}""".replace("(SHOWN)", f"({SHOWN})")
KERNEL_IDLE = """(name) => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(w && w.context && w.context.path === name && k && k.status === 'idle');
}"""


def _clock_offset(page) -> tuple[float, float]:
    """Page epoch ms minus this process's epoch ms, from the try with the shortest round trip;
    (offset, that round trip)."""
    best = (0.0, float("inf"))
    for _ in range(15):
        before = time.time() * 1000
        there = page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        if after - before < best[1]:
            best = (there - (before + after) / 2, after - before)
    return best


class Changes:
    """Renames, status changes and rotations of one key, in turn, over the REST route."""

    KINDS = ("rename", "status", "rotate")

    def __init__(self, server: JupyterServer, key: dict[str, Any]) -> None:
        self.server = server
        self.id, self.name, self.hint = key["id"], key["name"], key["hint"]
        self.active = True
        self.count = 0

    def plan(self, kind: str, where: str) -> tuple[dict[str, Any], str, str, Any]:
        """The next change of `kind`: (what shows it in `where`, as an ARM spec; method,
        route and body of its request). The key's state moves on as if it were made."""
        self.count += 1
        row = f'#qbraid-keys-sidebar .qbk-Row[data-key-id="{self.id}"]'
        if kind == "rename":
            self.name = f"live-{self.count:03d}-{random.randrange(16**6):06x}"
            request = ("PATCH", f"api-keys/{self.id}", {"name": self.name})
            spec = {"sel": f"{row} .qbk-Row-name", "all": [self.name]}
            in_panel = {"all": [self.name], "none": []}
        elif kind == "status":
            self.active = not self.active
            status = "active" if self.active else "inactive"
            request = ("PATCH", f"api-keys/{self.id}", {"status": status})
            spec = {"sel": f"{row} .qbk-Status-{status}", "all": []}
            # the row's button: "Deactivate" while active, "Activate" while inactive
            in_panel = {"all": [self.name, "Deactivate" if self.active else "Activate"]}
            in_panel["none"] = [] if self.active else ["Deactivate"]
        else:  # the new hint is known only from the answer: shown = the old one is gone
            request = ("POST", f"api-keys/{self.id}/rotate", None)
            spec = {"sel": f"{row} .qbk-Row-hint", "all": [], "none": [self.hint]}
            in_panel = {"all": [self.name], "none": [self.hint]}
        if where == "panel":  # a panel row: its summary (name, hint, status) and buttons
            spec = {"sel": PANEL_ROWS, **in_panel}
        return {"none": [], **spec}, *request

    def now_shown(self, where: str) -> dict[str, Any]:
        """What the key's row shows now, as a SHOWN spec."""
        row = f'#qbraid-keys-sidebar .qbk-Row[data-key-id="{self.id}"]'
        return {"sel": PANEL_ROWS if where == "panel" else row, "all": [self.name, self.hint]}

    def make(self, method: str, route: str, body: Any) -> float:
        """Make one change; the epoch ms at which its answer was read."""
        status, answer = self.server.request(method, API + route, body)
        answered = time.time() * 1000
        if not isinstance(answer, dict):
            answer = {}
        answer.pop("value", None)  # a rotate's new value: never kept, never printed
        if status != 200:
            code = (answer.get("error") or {}).get("code", "")
            raise RuntimeError(f"{method} {route} answered {status} {code}")
        self.hint = answer.get("data", {}).get("hint", self.hint)
        return answered


def _measure(page, changes: Changes, where: str, count: int, offset: float) -> dict[str, list]:
    """`count` changes (and one not counted first); ms from answer to shown, by kind, and
    from answer to the key event reaching the page's event stream ("event")."""
    took: dict[str, list[float]] = {kind: [] for kind in (*Changes.KINDS, "event")}
    for i in range(count + 1):
        kind = Changes.KINDS[i % len(Changes.KINDS)]
        spec, *request = changes.plan(kind, where)
        if not page.evaluate(ARM, spec):
            raise RuntimeError(f"{where}: the {kind} showed before it was made")
        answered = changes.make(*request)
        page.wait_for_function("() => window.__qbkSeen !== null", timeout=30_000)
        seen, event = page.evaluate("() => [window.__qbkSeen, window.__qbkEvent]")
        if i:
            took[kind].append(seen - offset - answered)
            if event is not None:
                took["event"].append(event - offset - answered)
        # what it showed is the key as it now is (its name and its new hint together)
        page.wait_for_function(SHOWN, arg=changes.now_shown(where), timeout=5_000)
        # let the reload that showed it finish; the next change starts at a random phase
        page.wait_for_timeout(600 + random.randrange(400))
    return took


def _open_panel(page, server: JupyterServer) -> None:
    """Open a notebook showing `KeysPanel()` in the page's Lab; run it; wait for its rows."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PANEL_CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, str(server.root / "notebooks" / "live.ipynb"))
    page.evaluate(  # nothing returned: the widget does not serialise
        "async () => { await window.jupyterapp.commands.execute('docmanager:open',"
        " {path: 'live.ipynb'}); }"
    )
    page.wait_for_function(KERNEL_IDLE, arg="live.ipynb", timeout=90_000)
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    page.wait_for_selector(PANEL_ROWS, timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, arg="live.ipynb", timeout=90_000)
    if "Traceback" in page.locator(f"{HERE} .jp-OutputArea").inner_text():
        raise RuntimeError("KeysPanel() failed in the notebook")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the live-update figures (or say why they are not available)."""
    reason = missing()
    if reason:
        for where in ("sidebar", "panel"):
            report.figures.append(
                Figure(ITEM, f"{where}: REST answer -> change shown", None, "ms", note=reason)
            )
        return
    from playwright.sync_api import sync_playwright

    count = 9 if quick else 21
    db = tmp / "live.sqlite3"
    made = accounts.fill(db, KEYS, "key")[0]
    key = {k: made[k] for k in ("id", "name", "hint")}  # not its value
    del made
    server = lab_server(tmp / "lab", db)
    took: dict[str, dict[str, list[float]]] = {}
    offsets: list[tuple[float, float]] = []
    try:
        server.start()
        changes = Changes(server, key)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = lab_page(browser, server)
                page.evaluate("() => window.jupyterapp.commands.execute('qbraid-keys:open')")
                page.wait_for_selector(ROWS)
                page.wait_for_timeout(1000)
                offsets.append(_clock_offset(page))
                took["sidebar"] = _measure(page, changes, "sidebar", count, offsets[-1][0])
                _open_panel(page, server)
                offsets.append(_clock_offset(page))
                took["panel"] = _measure(page, changes, "panel", count, offsets[-1][0])
            finally:
                browser.close()
    finally:
        server.stop()
    for where, target in (("sidebar", SIDEBAR_MS), ("panel", PANEL_MS)):
        values = [x for kind in Changes.KINDS for x in took[where][kind]]
        for label, value in (("median", statistics.median(values)), ("p95", _p95(values))):
            report.figures.append(
                Figure(
                    ITEM,
                    f"{where}: REST answer -> change shown, {label} ({len(values)} changes)",
                    value,
                    "ms",
                    f"{target / 1000:g} s target",
                    target,
                    "ratio <= 1",
                    value <= target,
                )
            )
        report.note(
            ITEM,
            f"{where}: ms from the REST answer to the change in the DOM, by kind: "
            + "; ".join(f"{kind} {[round(x) for x in took[where][kind]]}" for kind in Changes.KINDS)
            + f"; max {max(values):.0f} ms. "
            + (
                "The page's event stream had the key event "
                f"{statistics.median(took[where]['event']):+.0f} ms from the answer (median; "
                "negative = before it)."
                if took[where]["event"]
                else "No key event was seen on the page's event stream."
            ),
        )
    report.note(
        ITEM,
        f"one Lab, one page, an account of {KEYS} keys, one of them changed each time (rename, "
        "status change, rotate in turn; one change first not counted), 0.6-1 s apart. The "
        "sidebar waits 150 ms after an event (to reload once for a burst of changes), then "
        "reloads the keys in view; the panel reloads its page on the kernel's loop. During "
        "the panel's changes the sidebar stays open beside the notebook (and reloads too). "
        "Page minus process clock: "
        + ", ".join(f"{o:+.1f} ms (round trip {r:.1f} ms)" for o, r in offsets)
        + "; the figures are corrected by it.",
    )
