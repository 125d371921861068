"""Keep this kernel's key current: follow rotations made in this Lab, fail clearly after a revoke.

Every request qbraid-core sends (and so the qBraid SDK, whose clients use its sessions) goes
through `qbraid_core.sessions.Session.request`. While a key is in use, that method is wrapped:

- before each request, one `stat` of the kernel's state file (written by the server, see
  `qbraid_keys_ext.kernel_keys`) tells whether the key changed. After a rotation in this Lab
  the new value is read from the keyring by the key's id, hidden in outputs, put in the
  environment and in the session, and the request goes out with it. This runs in the thread
  that makes the request, so it holds while the kernel is busy in a long cell.
- a request that is still refused with 401 asks the server what became of the key. A
  rotation that raced with the request is waited for (up to `SETTLE_SECONDS`) until its value
  is in the keyring, and the request is retried once with it; otherwise (revoked, inactive,
  rotated outside this Lab) it fails with one line that names the key, what happened to it
  and what to do.

Only sessions that carry this kernel's key (an `X-API-Key` of one of its values) are touched.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ..kernel_keys import read_state, state_file
from ..service import keyformat
from ..upstream import KeyApiError

SETTLE_SECONDS = 3.0
"""How long a refused request waits for a rotation in this Lab to reach the keyring."""


class KeyGone(Exception):
    """This kernel's key cannot be used any more; shown as one line, without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class KeyFollower:
    """The key this kernel uses (id, name, current value) and how to follow its changes."""

    def __init__(
        self, key: dict[str, Any], value: str, vault: Any, kernel_id: str | None, on_value: Any
    ) -> None:
        self.key_id = str(key["id"])
        self.name = str(key.get("name"))
        self.hint = keyformat.hint(value)
        self.value = value
        self.values = {value}
        self.vault = vault
        self.gone: str | None = None
        self._rotating = False
        self._on_value = on_value  # called with (value, name) when the value changes
        self._path = state_file(kernel_id) if kernel_id else None
        self._seen: int | None = self._stamp()
        self._lock = threading.RLock()

    # -- the checks around each request ---------------------------------------------------

    def sync(self) -> None:
        """Take in what the server last wrote about the key (one `stat` when nothing changed).

        While the server is rotating the key, wait (up to `SETTLE_SECONDS`) for its new value.
        """
        deadline = time.monotonic() + SETTLE_SECONDS
        with self._lock:
            while True:
                stamp = self._stamp()
                if stamp != self._seen:
                    self._seen = stamp
                    self._follow_state()
                if not self._rotating or time.monotonic() > deadline:
                    return
                time.sleep(0.02)

    def before(self, session: Any) -> None:
        """Bring the session up to date with the key; raise KeyGone if it is gone."""
        with self._lock:
            self.sync()
            if self.gone:
                raise KeyGone(self.gone)
            self._steer(session)

    def recover(self, session: Any, code: str | None) -> str | None:
        """After a 401: None if a newer value is in place (retry once), else why it failed."""
        with self._lock:
            if self.value != session.headers.get("X-API-Key"):  # another thread followed it
                self._steer(session)
                return None
            if code == "API_KEY_INACTIVE":
                return self._inactive()
            now = self._server_view()
            if now is None:
                return self._revoked()
            if now.get("status") == "inactive":
                return self._inactive()
            deadline = time.monotonic() + SETTLE_SECONDS
            while now.get("hint") != self.hint:  # rotated: wait for its value to be stored here
                if self.adopt(self._fetch()):
                    self._steer(session)
                    return None
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            return (
                f"The qBraid API key {self.name!r} was refused: it was regenerated outside this "
                "Lab (in another Lab or on the key service), whose new value cannot reach this "
                f"Lab's keyring. Run `%qbraid_key add {self.name}` and paste the new value; or "
                "`%qbraid_key use OTHER`."
            )

    # -- helpers ---------------------------------------------------------------------------

    def owns(self, session: Any) -> bool:
        """Whether the session authenticates with this kernel's key."""
        headers = getattr(session, "headers", {}) or {}
        return headers.get("X-API-Key") in self.values and not headers.get("X-Access-Token")

    def _stamp(self) -> int | None:
        if self._path is None:
            return None
        try:
            return os.stat(self._path).st_mtime_ns
        except OSError:
            return None

    def _follow_state(self) -> None:
        record = read_state(self._path) if self._path else None
        if not record or record.get("id") != self.key_id:
            return
        self.name = str(record.get("name") or self.name)
        self._rotating = bool(record.get("rotating"))
        status = record.get("status")
        if status == "revoked":
            self.gone = self._revoked()
        elif status == "inactive":
            self.gone = self._inactive()
        else:
            self.gone = None
            if record.get("hint") and record["hint"] != self.hint:
                self.adopt(self._fetch())

    def _fetch(self) -> str | None:
        try:
            return self.vault.fetch(self.key_id)
        except Exception:  # a keyring failure leaves the current value in place
            return None

    def adopt(self, value: str | None) -> bool:
        """Make `value` the current one if it is a new, valid value of this key."""
        if not value or value == self.value or not keyformat.has_valid_checksum(value):
            return False
        self._on_value(value, self.name)
        self.value = value
        self.values.add(value)
        self.hint = keyformat.hint(value)
        self.gone = None
        return True

    def _steer(self, session: Any) -> None:
        """Make the session send the current value."""
        if session.headers.get("X-API-Key") != self.value:
            session.headers["X-API-Key"] = self.value
            auth = getattr(session, "auth_headers", None)
            if isinstance(auth, dict) and "X-API-Key" in auth:
                auth["X-API-Key"] = self.value
            if hasattr(session, "_api_key"):
                session._api_key = self.value

    def _server_view(self) -> dict[str, Any] | None:
        """The key as the server sees it now ({} if it cannot say), None if it was revoked."""
        from .server import call

        try:
            return call("GET", f"api-keys/{self.key_id}")
        except KeyApiError as err:
            return None if err.status == 404 else {}

    def _revoked(self) -> str:
        return (
            f"The qBraid API key {self.name!r} was revoked; it cannot be used any more. "
            "Run `%qbraid_key use OTHER` with another key."
        )

    def _inactive(self) -> str:
        return (
            f"The qBraid API key {self.name!r} is inactive. Activate it in the API Keys sidebar, "
            "or run `%qbraid_key use OTHER` with another key."
        )


_FOLLOWER: KeyFollower | None = None


def follow(follower: KeyFollower | None) -> None:
    """Make qbraid-core in this kernel follow `follower`'s key (None: stop following)."""
    global _FOLLOWER
    _FOLLOWER = follower
    if follower is not None:
        _install()


def _install() -> None:
    """Wrap `qbraid_core.sessions.Session.request` once (if qbraid-core is installed)."""
    try:
        from qbraid_core import sessions
    except Exception:  # qbraid-core is optional
        return
    original = sessions.Session.request
    if getattr(original, "__qbraid_keys__", False):
        return

    def request(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        follower = _FOLLOWER
        if follower is None or not follower.owns(self):
            return original(self, method, url, *args, **kwargs)
        follower.before(self)
        try:
            return original(self, method, url, *args, **kwargs)
        except Exception as err:
            if getattr(err, "status_code", None) != 401:
                raise
            why = follower.recover(self, getattr(err, "code", None))
            if why is None:
                return original(self, method, url, *args, **kwargs)
            raise KeyGone(why) from None

    request.__qbraid_keys__ = True  # type: ignore[attr-defined]
    request.__wrapped__ = original  # type: ignore[attr-defined]
    sessions.Session.request = request
