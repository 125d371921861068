"""Run a tornado server on a loopback port in its own thread and event loop, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any


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
