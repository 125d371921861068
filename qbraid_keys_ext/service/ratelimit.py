"""Authentication failures per client, over a sliding window (qBraid: 100 per 15 minutes).

A client (its IP address as the socket sees it) that failed to authenticate ``limit`` times
within ``window`` seconds gets 429 ``RATE_LIMITED`` with ``Retry-After`` for its next failure,
until the oldest of those failures is older than the window. Successful requests never count
and are never refused: a valid key or token still gets through from a limited client (see
``app.py`` for why). Memory is bounded: at most ``limit`` timestamps per client and
``max_clients`` clients.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

DEFAULT_LIMIT = 100
DEFAULT_WINDOW = 15 * 60.0
MAX_CLIENTS = 10_000


class FailureLimiter:
    """Counts authentication failures per client; tells when a client is over the limit."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("The rate limit must be >= 0 (0: off) and the window > 0 seconds.")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may fail again without a 429, or None if it may now."""
        if self.limit == 0:
            return None
        recent = self._recent(client)
        if recent is None or len(recent) < self.limit:
            return None
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def failed(self, client: str) -> None:
        """Count one authentication failure of ``client``."""
        if self.limit == 0:
            return
        recent = self._recent(client)
        if recent is None:
            if len(self._failures) >= self._max_clients:
                self._forget_some()
            recent = self._failures[client] = deque(maxlen=self.limit)
        recent.append(self._clock())

    def _recent(self, client: str) -> deque[float] | None:
        """The client's failures within the window (older ones dropped), or None."""
        recent = self._failures.get(client)
        if recent is None:
            return None
        horizon = self._clock() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent

    def _forget_some(self) -> None:
        """Make room: drop clients whose failures expired, else the least recent half."""
        for client in list(self._failures):
            self._recent(client)
        if len(self._failures) >= self._max_clients:
            by_last = sorted(self._failures, key=lambda c: self._failures[c][-1])
            for client in by_last[: max(1, len(by_last) // 2)]:
                del self._failures[client]
