"""Key events of this kernel's Jupyter server, read in the kernel (for the live `KeysPanel`).

One daemon thread per kernel reads the server's event stream (`api/events/subscribe`, the
websocket JupyterLab reads) and calls each subscriber for every event of the key schema
(`.../qbraid_keys_ext/key/v1`). Events never carry a value. The thread reconnects after a
failure and stops when its last subscriber is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .server import find_server

SCHEMA_SUFFIX = "/qbraid_keys_ext/key/v1"
RETRY_SECONDS = 2.0

Listener = Callable[[dict[str, Any]], None]


class KeyEvents:
    """Subscribers to this server's key events, and the thread that reads them."""

    def __init__(self) -> None:
        self._listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self, owner: Any) -> None:
        """Call `owner.key_event(event)` for each key event while `owner` is alive."""
        with self._lock:
            self._listeners.add(owner)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=lambda: asyncio.run(self._read()), name="qbraid-keys-events", daemon=True
                )
                self._thread.start()

    def unsubscribe(self, owner: Any) -> None:
        """Stop calling `owner`."""
        with self._lock:
            self._listeners.discard(owner)

    async def _read(self) -> None:
        while self._listeners:
            try:
                url, token = find_server()
                request = HTTPRequest(
                    url.replace("http", "ws", 1) + "api/events/subscribe",
                    headers={"Authorization": f"token {token}"} if token else {},
                )
                connection = await websocket_connect(request)
                while self._listeners:
                    message = await connection.read_message()
                    if message is None:
                        break
                    self._dispatch(message)
                connection.close()
            except Exception:  # the server restarts, or is not reachable: try again later
                pass
            await asyncio.sleep(RETRY_SECONDS)

    def _dispatch(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            return
        if not isinstance(event, dict) or not str(event.get("schema_id", "")).endswith(
            SCHEMA_SUFFIX
        ):
            return
        for owner in list(self._listeners):
            with contextlib.suppress(Exception):  # a broken subscriber must not stop the others
                owner.key_event(event)


EVENTS = KeyEvents()
