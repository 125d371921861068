"""A separate environment with qBraid Lab (qbraid-lab + qbraid-lex from PyPI), then this project.

qbraid-lab ships its own build of the `jupyterlab` module, so it must never share an
environment with upstream `jupyterlab` (our test environment has it): the qBraid Lab tests run
in a venv of their own.

The venv with only qBraid Lab installed is cached under `.cache/` in the checkout (keyed by
the pinned versions and the Python version). It stays correct: its `pip freeze` right after
creation is kept beside it, and every use first uninstalls whatever was added since (this
project and its dependencies) and checks that nothing it had changed; otherwise it is built
again. A fresh clone (CI) builds it once, from PyPI: about 75 s with pip's cache warm (the
whole module then takes about 2.5 min; about 50 s when the venv is reused).
`python -m tests.qbraid_lab_env` prepares it ahead of a run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

QBRAID_LAB = "4.6.13"
QBRAID_LEX = "0.1.34"
REPO = Path(__file__).resolve().parents[1]
CACHE = (
    REPO
    / ".cache"
    / f"qbraid-lab-{QBRAID_LAB}-lex-{QBRAID_LEX}-py{sys.version_info[0]}{sys.version_info[1]}"
)
READY = CACHE / "base-freeze.txt"
"""Written last: the venv's `pip freeze` with qBraid Lab alone."""

CORE_CHECK = r"""
import base64, hashlib, json, importlib.metadata as md
import jupyterlab
from jupyterlab.labapp import LabApp
dist = md.distribution("qbraid-lab")
changed, checked, whole = [], 0, hashlib.sha256()
for f in sorted(dist.files or [], key=str):
    if f.hash is None:
        continue
    checked += 1
    try:
        data = f.locate().read_bytes()
    except OSError:
        changed.append(str(f))
        continue
    digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=")
    whole.update(f"{f} {digest.decode()}\n".encode())
    if digest.decode() != f.hash.value:
        changed.append(str(f))
names = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
print(json.dumps({
    "version": jupyterlab.__version__,
    "app_name": LabApp.app_name,
    "checked": checked,
    "changed": changed,
    "digest": whole.hexdigest(),
    "upstream_jupyterlab": "jupyterlab" in names,
}))
"""
MIGRATED = {"../../../etc/jupyter/labconfig/page_config.json"}
"""Rewritten by JupyterLab itself on its first start: it copies qBraid Lab's
`disabledExtensions` into `lockedExtensions` (JupyterLab's migration from 4.0)."""


def _name(line: str) -> str:
    """The canonical project name of a `pip freeze` line."""
    name = re.split(r"[=@ <>!~;]", line.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(venv: Path, *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _freeze(venv: Path) -> dict[str, str]:
    lines = _pip(venv, "freeze", "--all").splitlines()
    return {_name(line): line.strip() for line in lines if line.strip()}


def _build() -> None:
    """Create the venv with qBraid Lab alone (from PyPI), and record its freeze."""
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(CACHE)], check=True, timeout=300)
    _pip(CACHE, "install", "--quiet", f"qbraid-lab=={QBRAID_LAB}", f"qbraid-lex=={QBRAID_LEX}")
    # JupyterLab's first run locks what qBraid Lab disables (MIGRATED): do it now, once.
    jupyter(CACHE, "labextension", "list", env={**os.environ, "PATH": str(CACHE / "bin")})
    READY.write_text("\n".join(sorted(_freeze(CACHE).values())) + "\n")


def _reset() -> bool:
    """Take the cached venv back to qBraid Lab alone; False when that cannot be done."""
    if not READY.exists() or not (CACHE / "bin" / "python").exists():
        return False
    base = {_name(line): line.strip() for line in READY.read_text().splitlines() if line}
    try:
        now = _freeze(CACHE)
        added = sorted(set(now) - set(base))
        if added:
            _pip(CACHE, "uninstall", "--yes", "--quiet", *added)
            now = _freeze(CACHE)
    except (RuntimeError, OSError, subprocess.SubprocessError):
        return False
    return now == base and set(core(CACHE)["changed"]) <= MIGRATED


def qbraid_lab_venv() -> Path:
    """The venv with qBraid Lab alone, as installed from PyPI (reused when still exact).

    Held under a file lock: two test runs of one checkout take turns.
    """
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with (CACHE.parent / f"{CACHE.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _reset():
            _build()
    return CACHE


def core(venv: Path) -> dict:
    """qBraid Lab's core as installed: jupyterlab version, app name, files changed since."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CORE_CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def build_wheel(out: Path) -> Path:
    """This project's wheel, built by the test environment (no download, no npm run)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = out.glob("qbraid_keys_ext-*.whl")
    return wheel


def install(venv: Path, wheel: Path) -> str:
    """Install this project the way the README says for qBraid Lab: no `[lab]` extra."""
    return _pip(venv, "install", "--quiet", str(wheel))


def jupyter(venv: Path, *args: str, env: dict[str, str]) -> str:
    """`jupyter ARGS` of the venv, its output without colours."""
    result = subprocess.run(
        [str(venv / "bin" / "jupyter"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


if __name__ == "__main__":  # prepare the cache ahead of a test run
    print(qbraid_lab_venv())
