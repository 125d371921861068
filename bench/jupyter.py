"""A real `jupyter server` subprocess on loopback, isolated under a temporary directory."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .processes import REPO, _running, python_env, stop


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Config, data, runtime, home and keyring under `root`; sys-prefix config kept."""
    env = python_env()
    for name in ("QBRAID_API_KEY", "QBRAID_ACCESS_TOKEN", "QBRAID_API_URL", "JUPYTER_TOKEN"):
        env.pop(name, None)
    for name, sub in {
        "HOME": "home",
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython",
        "XDG_CONFIG_HOME": "home/.config",
        "XDG_DATA_HOME": "home/.local/share",
        "XDG_CACHE_HOME": "home/.cache",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
    }.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(root / sub)
    env["QBRAID_KEYS_KEYRING"] = "file"  # the same keyring for the server and its kernels
    env.update(extra or {})
    return env


class JupyterServer:
    """`jupyter server` (or `jupyter lab`) with a random token; `config` goes to its config dir."""

    def __init__(
        self,
        root: Path,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        app: str = "jupyter_server",
    ) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.env = isolated_env(root, env)
        self.app = app
        self.log = root / "server.log"
        self.proc: subprocess.Popen | None = None
        (root / "notebooks").mkdir(parents=True, exist_ok=True)
        if config:
            path = Path(self.env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json"
            path.write_text(json.dumps(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 90.0) -> float:
        """Start it; the seconds until `/api/status` answered 200."""
        cmd = [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.root / 'notebooks'}",
        ]
        if self.app == "jupyterlab":
            cmd += [
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.news_url=",
            ]
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        _running.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log_tail()}")
            try:
                if self.request("GET", "/api/status", timeout=2)[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"jupyter server did not start in {timeout:g} s:\n{self.log_tail()}")

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 60
    ) -> tuple[int, Any]:
        """One call with the token; (status, decoded JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PATCH", "PUT"):
            data = b""
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={**self.auth, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop(self.proc)

    def __enter__(self) -> JupyterServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
