"""A real JupyterHub on loopback for the tests, configured by docs/jupyterhub/jupyterhub_config.py.

`Hub` writes a small config that loads the documented one and adds what a test machine needs
(dummy authenticator with users alice and bob, `SimpleLocalProcessSpawner` with a home per user
under a temporary folder, free loopback ports, `--allow-root` when root, an admin service whose
token starts servers and makes user tokens), starts `jupyterhub` (with configurable-http-proxy
from npm) and stops it with everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .lab_server import free_port, stop_process

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXAMPLE = REPO / "docs" / "jupyterhub" / "jupyterhub_config.py"
USERS = ("alice", "bob")

_TEST_CONFIG = """
c = get_config()  # noqa: F821
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {admin!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
    "services": ["test-admin"],
}}]
c.Spawner.environment = {environment!r}
load_subconfig({example!r})  # noqa: F821 (the documented config, under test)

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.db_url = "sqlite:///{root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/cookie_secret"
c.JupyterHub.pid_file = "{root}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.cleanup_servers = True
"""


def proxy_missing_reason() -> str | None:
    """Why the Hub cannot start here (no configurable-http-proxy), or None."""
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy is not installed (npm install -g configurable-http-proxy)"
    return None


class Hub:
    """`jupyterhub` in a subprocess, with the key service as its managed service."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root
        self.db_url = db_url
        self.port = free_port()
        self.service_port = free_port()
        self.admin_token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.service_url = f"http://127.0.0.1:{self.service_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "jupyterhub.log"

    def start(self) -> Hub:
        self.root.mkdir(parents=True, exist_ok=True)
        path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        config = self.root / "jupyterhub_config.py"
        config.write_text(
            _TEST_CONFIG.format(
                admin=self.admin_token,
                example=str(EXAMPLE),
                port=self.port,
                hub_port=free_port(),
                proxy_port=free_port(),
                root=self.root,
                users=set(USERS),
                singleuser=str(BIN / "jupyterhub-singleuser"),
                args=["--allow-root"] if os.geteuid() == 0 else [],
                environment={"PATH": path, "QBRAID_KEYS_KEYRING": "file", "LANG": "C.UTF-8"},
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QBRAID_", "JUPYTER"))}
        env |= {
            "PATH": path,
            "QBRAID_KEYS_DB": self.db_url,
            "QBRAID_KEYS_PORT": str(self.service_port),
        }
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(config)],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(lambda: self.api("GET", "")[0] == 200, "the Hub")
        self._wait(
            lambda: self.call(f"{self.service_url}/api/v1/api-keys")[0] == 401, "the key service"
        )
        return self

    def _wait(self, ready: Any, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited: {self.log.read_text()[-3000:]}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{what} did not start: {self.log.read_text()[-3000:]}")

    def call(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP request; (status, decoded JSON answer or None)."""
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PATCH"):
            data = b""
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The Hub's REST API as the admin service."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return self.call(f"{self.url}/hub/api/{path}", method, body, headers)

    def start_server(self, user: str) -> str:
        """Start the user's server (through the Hub); its base URL through the proxy."""
        status, answer = self.api("POST", f"users/{user}/server")
        assert status in (201, 202), answer

        def ready() -> bool:
            model = self.api("GET", f"users/{user}")[1]
            return bool(model["servers"].get("", {}).get("ready"))

        self._wait(ready, f"{user}'s server", timeout=180)
        return f"{self.url}/user/{user}/"

    def token(self, user: str) -> str:
        """A new API token of the user (with the user's own scopes)."""
        status, answer = self.api(
            "POST", f"users/{user}/tokens", {"note": "test", "expires_in": 3600}
        )
        assert status in (200, 201), answer
        return answer["token"]

    def stop(self) -> None:
        """SIGTERM the Hub (it stops the servers, the proxy and the service); then its group."""
        stop_process(self.proc, grace=30)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # anything of its session still there
