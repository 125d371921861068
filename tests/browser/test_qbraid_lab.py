"""At home in qBraid Lab (issue 15): qbraid-lab 4.6.13 + qbraid-lex 0.1.34 from PyPI, then
this project as the README says (no `[lab]` extra), in a venv of their own
(`tests/qbraid_lab_env.py`), a real qBraid Lab server and headless Chromium.

- qBraid's core is unchanged by our install: its `jupyterlab` version, every file of
  qbraid-lab as its RECORD lists it, the "qBraid Lab" title; both labextensions and both
  server extensions enabled and OK.
- On a fresh home, qBraid Lab's "API Key Required" dialog offers the sidebar; the sidebar
  creates a key and makes it qBraid Lab's key through qBraid Lab's own route, after a
  confirmation that says where and how qBraid Lab keeps it; qBraid Lab's credentials check
  then passes. A rotation follows into qbraidrc; a revoke is told.
- Messages show in the sidebar (qBraid Lab disables the notification plugin); the Create
  dialog fits in qBraid's theme; our extension logs no console error or warning (the seven
  "Unsatisfied version" warnings are gone).
"""

from __future__ import annotations

import configparser
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .. import qbraid_lab_env as env
from ..lab_server import LabServer, require_browser
from .test_sidebar import DIALOG, PANEL, TAB, row

pytestmark = pytest.mark.timeout(900)  # the first run builds qBraid Lab's venv from PyPI

NOTIFICATION = "@jupyterlab/apputils-extension:notification"
OURS = re.compile(r"qbraid-keys|qbraid_keys")


class QbraidLabServer(LabServer):
    """`jupyter lab` of the qBraid Lab venv: qBraid's own build of JupyterLab."""

    def __init__(self, root: Path, venv: Path) -> None:
        super().__init__(root)
        self.python = str(venv / "bin" / "python")
        # qBraid Lab links a `qbraid` it cannot find on PATH into /usr/local/bin: give it
        # the venv's own, so the test leaves nothing outside its folders.
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"


@pytest.fixture(scope="module")
def timings() -> Iterator[dict[str, float]]:
    spent: dict[str, float] = {}
    yield spent
    print("qBraid Lab test, seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in spent.items()))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, timings) -> dict:
    """qBraid Lab's venv, its core before and after `pip install` of our wheel."""
    require_browser()
    started = time.monotonic()
    venv = env.qbraid_lab_venv()
    timings["qBraid Lab venv"] = time.monotonic() - started
    before = env.core(venv)
    started = time.monotonic()
    wheel = env.build_wheel(tmp_path_factory.mktemp("wheel"))
    env.install(venv, wheel)
    timings["our install"] = time.monotonic() - started
    return {"venv": venv, "before": before, "after": env.core(venv)}


@pytest.fixture(scope="module")
def lab(installed, tmp_path_factory, timings) -> Iterator[QbraidLabServer]:
    started = time.monotonic()
    server = QbraidLabServer(tmp_path_factory.mktemp("qbraid-lab"), installed["venv"])
    server.start()
    timings["server start"] = time.monotonic() - started
    try:
        yield server
    finally:
        server.stop()


def test_install_leaves_qbraid_labs_core_alone(installed, lab):
    before, after = installed["before"], installed["after"]
    assert before["version"] == after["version"] == env.QBRAID_LAB
    assert before["app_name"] == after["app_name"] == "qBraid Lab"
    # Not one of qbraid-lab's files changed: as its RECORD lists them (but for JupyterLab's
    # own first-start lock of what qBraid Lab disables), and as they were before our install.
    assert after["checked"] > 1000 and set(after["changed"]) <= env.MIGRATED
    assert after["digest"] == before["digest"]
    assert not after["upstream_jupyterlab"]

    labext = env.jupyter(installed["venv"], "labextension", "list", env=lab.env)
    assert f"JupyterLab v{env.QBRAID_LAB}" in labext
    for name in ("qbraid-keys-ext v0.1.0", f"@qbraid/lab v{env.QBRAID_LEX}"):
        assert re.search(rf"{re.escape(name)} enabled\s+OK", labext), labext
    assert NOTIFICATION in labext  # qBraid Lab's own page_config disables it

    serverext = env.jupyter(installed["venv"], "server", "extension", "list", env=lab.env)
    for name in ("qbraid_keys_ext", "qbraid_lab"):
        assert re.search(rf"{name} enabled", serverext), serverext
        assert re.search(rf"{name} \S+ OK", serverext), serverext


QBRAIDRC_SENTENCE = "keeps its key in ~/.qbraid/qbraidrc as plain text"


def qbraidrc(lab: LabServer) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(lab.env["HOME"]) / ".qbraid" / "qbraidrc")
    return dict(parser["default"]) if parser.has_section("default") else {}


def status_text(page) -> str:
    return page.locator(f"{PANEL} .qbk-Messages").inner_text()


def wait_message(page, kind: str, text: str) -> None:
    page.locator(f"{PANEL} .qbk-Message-{kind}:has-text({text!r})").wait_for(timeout=30_000)


def test_from_fresh_home_to_qbraid_labs_key_in_the_sidebar(browser, lab, timings):
    started = time.monotonic()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('qbraid-walkthrough-completed', 'true')")
    page = context.new_page()
    page.set_default_timeout(30_000)
    console: list[tuple[str, str, str]] = []
    page.on(
        "console", lambda m: console.append((m.type, m.text, (m.location or {}).get("url", "")))
    )
    try:
        page.goto(lab.lab_url())
        # qBraid Lab on a fresh home asks for a key; its dialog offers our sidebar.
        offer = page.locator("#qbraid-credential-dialog .qbk-QbraidLabDialogOffer-button")
        offer.wait_for(timeout=90_000)
        assert page.title() == "qBraid Lab"
        assert page.evaluate(f"window.jupyterapp.hasPlugin({NOTIFICATION!r})") is False
        assert lab.request("GET", "qbraid-lab/validate-config")[0] == 404
        offer.click()
        page.wait_for_selector("#qbraid-credential-dialog", state="detached")
        create = page.locator(f"{PANEL} .qbk-QbraidLab-create")
        create.wait_for()
        page.wait_for_function(
            "() => document.activeElement?.classList.contains('qbk-QbraidLab-create')"
        )

        # The Create dialog, name suggested, fits in qBraid's theme (no scrolling, nothing cut).
        create.click()
        form = page.locator(f"{DIALOG} .qbk-Form")
        form.wait_for()
        assert form.locator(".qbk-Form-input").input_value() == "qbraid-lab"
        fits = page.evaluate(
            """() => {
                 const body = document.querySelector('.jp-Dialog-body');
                 const box = body.getBoundingClientRect();
                 const out = [...body.querySelectorAll('*')].filter(e => {
                   const r = e.getBoundingClientRect();
                   return r.bottom > box.bottom + 0.5 || r.right > box.right + 0.5;
                 }).map(e => e.className || e.tagName);
                 return {out, v: body.scrollHeight - body.clientHeight,
                         h: body.scrollWidth - body.clientWidth};
               }"""
        )
        assert fits == {"out": [], "v": 0, "h": 0}, fits
        page.click(f"{DIALOG} button.jp-mod-accept")
        box = page.locator(f"{DIALOG} .qbk-Secret-value")
        box.wait_for()
        value = box.input_value()
        page.click(f"{DIALOG} button.jp-mod-accept:has-text('Done')")

        # The confirmation says where qBraid Lab keeps the key, and how.
        confirm = page.locator(f"{DIALOG}:has-text('Use for qBraid Lab')")
        confirm.wait_for()
        assert QBRAIDRC_SENTENCE in " ".join(confirm.inner_text().split())
        confirm.locator("button.jp-mod-accept").click()
        wait_message(page, "success", "qBraid Lab now uses")
        assert "was created and stored" in status_text(page)
        rc = qbraidrc(lab)
        _, answer = lab.request("GET", "qbraid-keys/status")
        assert rc["url"] == answer["upstream"]["url"].rstrip("/") + "/api/v1"
        assert rc["api-key"] == value, "qbraidrc must hold the new key"
        assert lab.request("GET", "qbraid-lab/validate-config")[0] == 200
        target = row(page, "qbraid-lab")
        target.locator(".qbk-Row-users:has-text('qBraid Lab')").wait_for()
        assert not page.locator(f"{PANEL} .qbk-QbraidLab").count()  # the offer is done

        # Quantum Jobs on the key service (when it has them): qBraid Lab's panels use the key.
        if lab.request("GET", "qbraid-lab/devices")[0] == 200:
            assert lab.request("GET", "qbraid-lab/jobs")[0] == 200

        # Regenerated here: qbraidrc follows, and qBraid Lab's check still passes.
        target.locator(".qbk-Rotate").click()
        rotate = page.locator(f"{DIALOG}:has-text('Regenerate Key')")
        assert "qBraid Lab" in rotate.inner_text()
        rotate.locator("button.jp-mod-accept").click()
        box.wait_for()
        new_value = box.input_value()
        page.click(f"{DIALOG} button.jp-mod-accept:has-text('Done')")
        wait_message(page, "success", "now holds the new value")
        assert new_value != value and qbraidrc(lab)["api-key"] == new_value
        assert lab.request("GET", "qbraid-lab/validate-config")[0] == 200

        # Revoked here: the user is told that qBraid Lab has lost its key.
        target.locator(".qbk-Revoke").click()
        page.locator(f"{DIALOG} button.jp-mod-accept:has-text('Revoke')").click()
        wait_message(page, "warning", "qBraid Lab used")
        assert page.locator(f"{PANEL} [role=alert] .qbk-Message-warning").count() == 1
        assert lab.request("GET", "qbraid-lab/validate-config")[0] != 200  # its check fails
        wait_message(page, "success", 'Key "qbraid-lab" was revoked')
        assert not page.locator(".Toastify__toast").count()

        # The key icon in qBraid Lab's left bar closes and opens the sidebar.
        page.click(TAB)
        page.wait_for_selector(PANEL, state="hidden")
        page.click(TAB)
        page.wait_for_selector(f"{PANEL} .qbk-Header", state="visible")
    finally:
        context.close()
    timings["browser"] = time.monotonic() - started

    ours = [m for m in console if OURS.search(m[1]) or OURS.search(m[2])]
    problems = [m for m in ours if m[0] in ("error", "warning")]
    assert problems == [], problems
    assert not [m for m in console if "Unsatisfied version" in m[1] and OURS.search(m[2])]
