"""A machine with no Jupyter server: the standalone key service, its environment, the CLI.

`KeyServiceProcess` runs `python -m qbraid_keys_ext.service` on a free loopback port (the
service prints the URL it bound); `machine_env` is the environment of a CI runner or a terminal
on this machine (its own HOME, Jupyter dirs and file keyring under a temp folder, the venv's
scripts first on PATH, no Jupyter server to find); `run` and `cli` run commands there.

Never print a key value from a test: use `kernel_helpers.assert_absent`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lab_server import isolated_env, stop_process

BIN = Path(sys.executable).parent
QBRAID_KEYS = str(BIN / "qbraid-keys")
TOKEN = "standalone-test-account-token"


class KeyServiceProcess:
    """`python -m qbraid_keys_ext.service` in a subprocess; `stop()` ends it (SIGTERM)."""

    def __init__(
        self, folder: Path, token: str = TOKEN, db: str | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.folder = folder
        self.token = token
        self.db = db or str(folder / "keys.sqlite3")  # or a postgresql:// URL
        self.args = args
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    @property
    def api_url(self) -> str:
        """`{root}/api/v1`, as `QBRAID_API_URL` holds it."""
        return f"{self.url}/api/v1"

    def start(self) -> KeyServiceProcess:
        return self.launch().wait_started()

    def launch(self) -> KeyServiceProcess:
        """Start the process (``wait_started`` reads the URL it prints)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QBRAID_KEYS_ACCESS_TOKEN=self.token)
        cmd = [sys.executable, "-m", "qbraid_keys_ext.service"]
        cmd += ["--db", self.db, "--port", "0", "--flush-interval", "0", *self.args]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return self

    def wait_started(self) -> KeyServiceProcess:
        line = self.proc.stdout.readline().strip()
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"the key service did not start: {line}")
        self.url = line.rsplit(" ", 1)[-1]
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc is not None:
            self.proc.stdout.close()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Call `{root}/api/v1/{path}` with the account token; (status, JSON answer)."""
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PATCH"):
            data = b""
        all_headers = {"X-Access-Token": self.token, "Content-Type": "application/json"}
        request = urllib.request.Request(
            f"{self.api_url}/{path}",
            data=data,
            method=method,
            headers=all_headers | (headers or {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def create(self, name: str, **body: Any) -> dict[str, Any]:
        """Create a key through the key API (nothing stored in any keyring)."""
        status, answer = self.request("POST", "api-keys", {"name": name, **body})
        assert status == 201, answer
        return answer["data"]

    def key(self, name: str) -> dict[str, Any]:
        """The key object named `name`."""
        _, answer = self.request("GET", "api-keys")
        return next(k for k in answer["data"] if k["name"] == name)


def machine_env(root: Path, api_url: str | None = None) -> dict[str, str]:
    """The environment of a terminal or CI runner here, with no Jupyter server to find."""
    env = isolated_env(root)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["QBRAID_KEYS_KEYRING"] = "file"
    env["QBRAID_KEYS_KEYRING_FILE"] = str(root / "keyring" / "keyring.json")
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.pop("JPY_PARENT_PID", None)
    for name in [n for n in env if n.startswith("QBRAID_KEY_")]:
        env.pop(name)
    if api_url:
        env["QBRAID_API_URL"] = api_url
    return env


@dataclass
class Result:
    """What a command did."""

    code: int
    stdout: str
    stderr: str


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, **kw: Any) -> Result:
    """Run a command to completion (no shell); its exit code and output."""
    done = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=kw.pop("timeout", 240),
        stdin=kw.pop("stdin", subprocess.DEVNULL),
        **kw,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def cli(*args: str, env: dict[str, str], **kw: Any) -> Result:
    """Run `qbraid-keys ARGS...`."""
    return run([QBRAID_KEYS, *args], env, **kw)
