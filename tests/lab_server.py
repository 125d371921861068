"""Run a real `jupyter lab` (and Chromium) for the browser tests, isolated under a tmp dir."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("QBRAID_KEYS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(root: Path) -> dict[str, str]:
    """Environment for a server whose config, data, runtime, home and keyring live in `root`.

    JUPYTER_PATH is left alone so the labextensions and kernels of sys.prefix stay visible.
    """
    env = dict(os.environ)
    dirs = {
        "HOME": root / "home",
        "JUPYTER_CONFIG_DIR": root / "config",
        "JUPYTER_DATA_DIR": root / "data",
        "JUPYTER_RUNTIME_DIR": root / "runtime",
        "IPYTHONDIR": root / "ipython",
        "XDG_CONFIG_HOME": root / "home" / ".config",
        "XDG_DATA_HOME": root / "home" / ".local" / "share",
        "XDG_CACHE_HOME": root / "home" / ".cache",
        "JUPYTERLAB_SETTINGS_DIR": root / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": root / "lab-workspaces",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    for name in (
        "QBRAID_API_KEY",
        "QBRAID_ACCESS_TOKEN",
        "QBRAID_API_URL",
        "QBRAID_KEYS_SERVER_URL",
        "QBRAID_KEYS_SERVER_TOKEN",
        "JUPYTER_TOKEN",
    ):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_process(proc: subprocess.Popen | None, grace: float = 15) -> None:
    """SIGTERM a process we started and wait for it; SIGKILL after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class LabServer:
    """`jupyter lab` on a free loopback port with a random token; stop() ends it."""

    module = "jupyterlab"
    python = sys.executable
    """The interpreter that runs the server (another venv's for qBraid Lab)."""
    app_args = (
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
    )

    def __init__(self, root: Path, *extra_args: str) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.notebooks = root / "notebooks"
        self.notebooks.mkdir(parents=True, exist_ok=True)
        self.env = isolated_env(root)
        self.log_path = root / "jupyter-lab.log"
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def lab_url(self, path: str = "lab", *, reset: bool = False) -> str:
        """A page of the server; `reset` starts from an empty workspace (no restored tabs)."""
        return f"{self.url}{path}?token={self.token}" + ("&reset" if reset else "")

    def start(self, timeout: float = 90) -> LabServer:
        cmd = [
            self.python,
            "-m",
            self.module,
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebooks}",
            *self.app_args,
            *self.extra_args,
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.notebooks
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.log_tail()}")
            try:
                status, _ = self.request("GET", "api/status")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.module} did not start in {timeout}s:\n{self.log_tail()}")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the server's REST API with the token; returns (status, parsed JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PATCH", "PUT"):
            data = b""
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, (json.loads(raw) if raw else None)

    def keys(self, method: str, route: str, body: Any = None) -> tuple[int, Any]:
        """Call `qbraid-keys/api/v1/<route>` (Contract 2)."""
        return self.request(method, f"qbraid-keys/api/v1/{route}", body)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


class NotebookServer(LabServer):
    """`jupyter notebook` (Notebook 7) the same way; its app is `window.jupyterapp` too."""

    module = "notebook"
    app_args = ("--JupyterNotebookApp.expose_app_in_browser=True",)


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing; under CI=true, fail instead."""
    reason = chromium_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


def write_settings(server: LabServer, settings: dict[str, dict[str, Any]]) -> None:
    """JupyterLab user settings for the server, e.g. `{"@jupyterlab/x-extension/plugin": {...}}`."""
    root = Path(server.env["JUPYTERLAB_SETTINGS_DIR"])
    for plugin, values in settings.items():
        folder, name = plugin.rsplit("/", 1)
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))


QUIET = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}}
"""No "get Jupyter news?" toast over the pages and screenshots."""


def serving(server: LabServer, settings: dict[str, dict[str, Any]] = QUIET) -> Iterator[Any]:
    """Start the server with these settings for a module-scoped fixture; stop it after."""
    require_browser()
    write_settings(server, settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_command(page: Any, command: str, args: dict | None = None) -> None:
    """Execute a JupyterLab/Notebook command in the page (`window.jupyterapp`)."""
    page.evaluate(
        "async ([id, args]) => { await window.jupyterapp.commands.execute(id, args); }",
        [command, args or {}],
    )
