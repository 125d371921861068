"""Run a tornado server on a loopback port in its own thread and event loop, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets


class ThreadedServer:
    """Start `await setup()` (which returns the server's URL) in a private loop; stop it on exit."""

    def __init__(
        self,
        setup: Callable[[], Awaitable[str]],
        teardown: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._setup = setup
        self._teardown = teardown
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def run(self, coro: Awaitable[Any], timeout: float = 30) -> Any:
        """Run a coroutine in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        self.url = self.run(self._setup())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._teardown is not None:
            self.run(self._teardown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def serve_app(app: tornado.web.Application) -> ThreadedServer:
    """A ThreadedServer for a tornado app on a free loopback port (use it as a context)."""
    holder: dict[str, HTTPServer] = {}

    async def setup() -> str:
        [sock] = bind_sockets(0, "127.0.0.1")
        holder["server"] = HTTPServer(app)
        holder["server"].add_sockets([sock])
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def teardown() -> None:
        holder["server"].stop()

    return ThreadedServer(setup, teardown)
