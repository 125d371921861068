"""What a row's buttons do: details, (de)activate, regenerate, revoke, use in this notebook.

Each action runs through the panel's `attempt` (a "Working…" line, then its message or its
error) and updates the panel's list of keys with the server's answer.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING

from .. import keyview
from ..kernel import holders
from ..kernel.server import call
from ..upstream import KeyApiError
from .shared import Key

if TYPE_CHECKING:
    from .keyrow import KeyRow
    from .panel import KeysPanel


class KeyActions:
    """The actions of every row of one panel."""

    def __init__(self, panel: KeysPanel) -> None:
        self.panel = panel

    def say(self, text: str, kind: str = "info") -> None:
        """Show one status line in the panel; '' clears it."""
        self.panel.say(text, kind)

    def toggle_details(self, row: KeyRow) -> None:
        """Open a row's details (fetching fresh usage), or close them."""
        if row.details is not None:
            row.close_details()
            return

        def fetch() -> None:
            key = self.panel.key_list.replace(call("GET", f"api-keys/{row.key['id']}"))
            row.open_details(key, self._history(key))

        self.panel.attempt(f"Loading '{row.name}'", fetch)

    def _history(self, key: Key) -> list[Key]:
        """The key's newest 10 audit events."""
        return call("GET", "events", params={"keyId": str(key.get("id")), "limit": "10"}) or []

    def refresh_details(self) -> None:
        """Reload the history of every row whose details are open."""
        for row in self.panel.key_list.rows.values():
            if row.details is not None:
                row.open_details(row.key, self._history(row.key))

    def toggle_status(self, row: KeyRow) -> None:
        """Deactivate an active key, or activate an inactive one."""
        status = "inactive" if row.key.get("status") == "active" else "active"

        def patch() -> str:
            answer = call("PATCH", f"api-keys/{row.key['id']}", {"status": status})
            row.show(self.panel.key_list.replace(answer))
            if status == "inactive":
                return f"'{row.name}' is inactive: its value is refused until you activate it."
            return f"'{row.name}' is active again."

        self.panel.attempt(
            f"{'Deactivating' if status == 'inactive' else 'Activating'} '{row.name}'", patch
        )

    def _users(self, row: KeyRow) -> str:
        try:
            users = holders.kernels_using(str(row.key.get("id")))
        except KeyApiError as err:
            return f" (Could not list this server's kernels: {err.message})"
        if not users:
            return " No kernel of this server uses it."
        return f" Kernels of this server using it: {', '.join(users)}."

    def ask_rotate(self, row: KeyRow) -> None:
        """Ask before giving a key a new value; name the kernels that use the old one."""

        def ask() -> None:
            text = (
                f"Regenerate '{row.name}'? Its current value ({row.key.get('hint')}) stops "
                "working at once, everywhere it is used." + self._users(row)
            )
            row.ask(text, "Regenerate Key", lambda: self.rotate(row))

        self.panel.attempt(f"Checking who uses '{row.name}'", ask)

    def rotate(self, row: KeyRow) -> bool:
        """Give a key a new value (same name and permissions); show it once."""

        def regenerate() -> str:
            answer = call("POST", f"api-keys/{row.key['id']}/rotate")
            value = answer.pop("value", "")
            key = self.panel.key_list.replace(answer)
            row.show(key)
            self.panel.show_value(key, value, "Regenerated key")
            done = f"Regenerated '{key.get('name')}': the old value no longer works."
            return done + self._refresh_here(key)

        return self.panel.attempt(f"Regenerating '{row.name}'", regenerate)

    def _refresh_here(self, key: Key) -> str:
        """Whether this kernel, if it used the rotated key, follows it (see kernel/follow.py)."""
        from ..kernel.keys import STATE

        follower = STATE.follower
        if follower is None or follower.key_id != key.get("id"):
            return ""
        follower.sync()
        if follower.hint == key.get("hint"):
            return " This notebook now uses the new value."
        return " This notebook still holds the old value; run `%qbraid_key use` again."

    def ask_revoke(self, row: KeyRow) -> None:
        """Ask before revoking a key for good."""

        def ask() -> None:
            text = (
                f"Revoke '{row.name}' ({row.key.get('hint')}) for good? Its value stops working "
                "at once and the key cannot be recovered." + self._users(row)
            )
            row.ask(text, "Revoke", lambda: self.revoke(row))

        self.panel.attempt(f"Checking who uses '{row.name}'", ask)

    def revoke(self, row: KeyRow) -> bool:
        """Revoke a key: it is removed for good, and from this Lab's keyring."""
        key_id, name = row.key.get("id"), row.name

        def delete() -> str:
            answer = call("DELETE", f"api-keys/{key_id}")
            self.panel.key_list.remove(str(key_id))
            note = f" ({answer['keyringError']})" if answer.get("keyringError") else ""
            return f"Revoked '{name}': its value no longer works.{note}"

        ok = self.panel.attempt(f"Revoking '{name}'", delete)
        if ok:
            self.panel.render()
        return ok

    def use(self, row: KeyRow) -> bool:
        """Use the key in this notebook's kernel, like `%qbraid_key use NAME`."""
        blocker = keyview.use_blocker(row.key)
        if blocker:  # the button is disabled; a call from code gets the same answer
            self.say(f"'{row.name}' cannot be used here. {blocker}", "error")
            return False
        return self.panel.attempt(
            f"Using '{row.name}' in this notebook", lambda: use_here(row.name)
        )


def use_here(name: str) -> str:
    """`%qbraid_key use NAME` in this kernel, with nothing printed; returns its message."""
    from ..kernel import use_key

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return str(use_key(name))
