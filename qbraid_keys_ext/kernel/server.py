"""Find this kernel's Jupyter server and call its `qbraid-keys` routes."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from jupyter_core.paths import jupyter_runtime_dir

from ..upstream import KeyApiClient, KeyApiError

T = TypeVar("T")

URL_VAR = "QBRAID_KEYS_SERVER_URL"
TOKEN_VAR = "QBRAID_KEYS_SERVER_TOKEN"


class ServerNotFound(KeyApiError):
    """No Jupyter server with the extension could be found for this kernel."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "SERVER_NOT_FOUND", message)

    def _render_traceback_(self) -> list[str]:
        """IPython shows this error as its one-line message, without a traceback."""
        return [self.message]


def find_server() -> tuple[str, str]:
    """The base URL (ending in `/`) and token of this kernel's Jupyter server.

    Order: `QBRAID_KEYS_SERVER_URL` (+ `QBRAID_KEYS_SERVER_TOKEN`), then the runtime file
    `jpserver-<JPY_PARENT_PID>.json` of the server that started this kernel (under
    JupyterHub, with the server's `JUPYTERHUB_API_TOKEN`).
    """
    url = os.environ.get(URL_VAR)
    if url:
        return url.rstrip("/") + "/", os.environ.get(TOKEN_VAR, "")
    pid = os.environ.get("JPY_PARENT_PID")
    if not pid:
        raise ServerNotFound(
            "This kernel was not started by a Jupyter server (no JPY_PARENT_PID); "
            f"set {URL_VAR} and {TOKEN_VAR} to the server's URL and token."
        )
    info_file = Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json"
    try:
        info = json.loads(info_file.read_text())
        if not isinstance(info, dict) or not info.get("url"):
            raise ValueError
    except (OSError, ValueError):
        raise ServerNotFound(
            f"The Jupyter server of this kernel (pid {pid}) left no runtime file at "
            f"{info_file}; set {URL_VAR} and {TOKEN_VAR}."
        ) from None
    # A JupyterHub single-user server writes no token: it takes its Hub API token, which its
    # kernels inherit.
    token = info.get("token", "") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    return info["url"].rstrip("/") + "/", token


def server_client(prefix: str = "qbraid-keys/api/v1", timeout: float = 15.0) -> KeyApiClient:
    """A client for `{server}/{prefix}`, authenticated with the server's token."""
    url, token = find_server()
    headers = {"Authorization": f"token {token}"} if token else {}
    return KeyApiClient(f"{url}{prefix}", headers, timeout=timeout)


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous kernel code (whose loop is busy)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(make())
        except BaseException as err:
            result["error"] = err

    thread = threading.Thread(target=target, name="qbraid-keys-call", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def call(
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, str] | None = None,
    *,
    envelope: bool = True,
) -> Any:
    """Call one `qbraid-keys/api/v1` route synchronously; returns `data`, raises KeyApiError.

    `envelope=False` returns the whole answer (e.g. a page's `data` and `page`).
    """
    client = server_client()
    return run_sync(lambda: client.request(method, path, body, params=params, envelope=envelope))


def call_page(params: dict[str, str]) -> dict[str, Any]:
    """One page of `GET api-keys` (`limit`, `cursor`, `name`, `q`) as `{"data", "page"}`.

    An upstream without pages answers every key and no `page`: that is one last page.
    """
    answer = call("GET", "api-keys", params=params, envelope=False)
    data = [k for k in answer.get("data") or [] if isinstance(k, dict)]
    page = answer.get("page")
    if not isinstance(page, dict):
        limit = int(params.get("limit") or len(data))
        return {"data": data[:limit], "page": {"next": None, "total": len(data)}}
    return {"data": data, "page": page}


def call_server(method: str, path: str, body: Any = None) -> Any:
    """Call one `qbraid-keys/...` route (outside the key API) synchronously; returns `data`."""
    client = server_client("qbraid-keys")
    return run_sync(lambda: client.request(method, path, body))


def server_status() -> dict[str, Any]:
    """The server's `qbraid-keys/status` answer."""
    client = server_client("qbraid-keys")
    return run_sync(lambda: client.request("GET", "status", envelope=False))
