"""`KeysPanel`: the header, the status line, the create form, the one-time box and the list.

The panel talks to this Jupyter server's `qbraid-keys` routes through `kernel.server.call`
(synchronous; widget callbacks run on the kernel's shell thread, so a "Working…" line shows
while a call runs). Key values reach widget state only in the one-time box, which its
"Done, I stored it" button empties and closes, so no widget model holds a value afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .. import keyview
from ..kernel.server import call, call_page
from ..upstream import KeyApiError
from .actions import KeyActions
from .createform import CreateForm
from .keylist import KeyList
from .keyrow import KeyRow
from .onetime import OneTimeValue
from .shared import Key, Shared, close_tree


class KeysPanel(w.VBox):
    """qBraid API keys in a notebook: list, create, details, rotate, revoke, (de)activate, use.

    `KeysPanel()` loads the keys from this kernel's Jupyter server, one page at a time (the
    search box is the server's search). `keys=` shows given key objects instead (no server
    call until an action). `page_size` rows are shown at a time.
    """

    def __init__(self, keys: list[Key] | None = None, *, page_size: int = 25, **kwargs: Any):
        self.shared = Shared()
        self.actions = KeyActions(self)
        self.value_box: OneTimeValue | None = None

        self.title = w.HTML()
        self.new_button = w.Button(description="New key", icon="plus", tooltip="Create a key")
        self.refresh_button = w.Button(icon="refresh", tooltip="Reload the list")
        self.new_button.layout.width = self.refresh_button.layout.width = "auto"
        header = w.HBox([self.title, self.new_button, self.refresh_button])
        header.layout.align_items = "center"
        self.title.layout.flex = "1 1 auto"
        self.message = w.HTML()
        self.form = CreateForm()
        self.reveal = w.VBox()
        self.key_list = KeyList(
            self.shared,
            lambda key: KeyRow(self.shared, self.actions, key),
            page_size,
            fetch=call_page if keys is None else None,
        )
        self.key_list.on_turn = self._turned  # each page from the server: a "Working…" line

        self.new_button.on_click(lambda _: self.open_form())
        self.refresh_button.on_click(lambda _: self.reload())
        self.form.create_button.on_click(lambda _: self.create())

        super().__init__([header, self.message, self.form, self.reveal, self.key_list], **kwargs)
        self.add_class("qbraid-keys-panel")
        self._reload_pending = False
        if keys is None:
            self.reload()
            self._follow_events()
        else:
            self.key_list.set_keys(keys)
            self.render()

    # The parts' inputs and buttons, under the names the panel has always given them.
    name_input = property(lambda self: self.form.name_input)
    scope_boxes = property(lambda self: self.form.scope_boxes)
    store_box = property(lambda self: self.form.store_box)
    create_button = property(lambda self: self.form.create_button)
    filter_input = property(lambda self: self.key_list.filter_input)
    prev_button = property(lambda self: self.key_list.prev_button)
    next_button = property(lambda self: self.key_list.next_button)

    def row(self, name: str) -> KeyRow:
        """The row of the key named `name` on the current page."""
        return self.key_list.row(name)

    # ---- messages and calls ---------------------------------------------------------------

    def say(self, text: str, kind: str = "info") -> None:
        """Show one status line (working, ok, error, info); '' clears it."""
        self.message.value = keyview.message_html(text, kind)

    def attempt(self, working: str, action: Callable[[], str | None]) -> bool:
        """Run one action with a "Working…" line; show its message or its error in the panel."""
        self.say(f"{working}…", "working")
        try:
            done = action()
        except KeyApiError as err:
            if err.status == 404:  # the error names an id; say which key, and what happened
                self.say(
                    f"{working} failed: the key no longer exists (it was revoked elsewhere). "
                    "Reload the list.",
                    "error",
                )
            else:
                self.say(err.message, "error")
            return False
        except Exception as err:  # never a traceback in the panel
            self.say(f"{working} failed: {type(err).__name__}: {err}", "error")
            return False
        self.say(done or "", "ok")
        return True

    # ---- the list ---------------------------------------------------------------------------

    def reload(self) -> bool:
        """Fetch the page shown from the server again and show it."""
        ok = self.attempt("Loading keys", self.key_list.load)
        self.render()
        return ok

    def _turned(self) -> None:
        """Another page, or another search: fetched from the server."""
        self.attempt("Loading keys", self.key_list.load)
        self.render()

    # ---- live updates ----------------------------------------------------------------------

    def _follow_events(self) -> None:
        """Reload when a key changes in this Lab (the server's event bus), when idle."""
        from ..kernel.events import EVENTS

        try:
            from IPython import get_ipython

            self._io_loop = get_ipython().kernel.io_loop
        except Exception:  # not in a kernel: no live updates
            return
        EVENTS.subscribe(self)

    def key_event(self, event: dict[str, Any]) -> None:
        """A key changed (called from the events thread): reload once, on the kernel's loop."""
        if not self._reload_pending:
            self._reload_pending = True
            self._io_loop.add_callback(self._live_reload)

    def _live_reload(self) -> None:
        self._reload_pending = False
        if self.comm is None:  # closed
            return
        message = self.message.value
        if self.reload():
            self.actions.refresh_details()
            self.message.value = message  # keep the outcome of the user's last action

    def render(self) -> None:
        """Show the current page of keys and the count in the title."""
        self.key_list.render()
        count = self.key_list.keys_in_account
        self.title.value = (
            f"<b style='{keyview.FONT}; font-size: var(--jp-ui-font-size2, 14px)'>"
            f"qBraid API keys</b> <span style='{keyview.MUTED}'>· {count:,} "
            f"key{'' if count == 1 else 's'}</span>"
        )

    # ---- create ----------------------------------------------------------------------------

    def open_form(self) -> None:
        """Show the create form, with a checkbox per scope the server offers."""
        if self.form.scopes is None and not self.attempt(
            "Loading permissions",
            lambda: self.form.set_scopes(call("GET", "api-key-scopes") or []),
        ):
            return
        self.form.open_form()

    def create(self) -> bool:
        """Create a key from the form; show its value once."""
        body = self.form.body()
        name = body["name"]
        problem = self.form.name_problem()
        if problem:
            self.say(problem, "error")
            return False

        def make() -> str:
            answer = call("POST", "api-keys", body)
            value = answer.pop("value", "")
            key = self.key_list.insert(answer)
            self.form.close_form()
            self.show_value(key, value, "Created key")
            return f"Created key '{key.get('name')}'. Copy its value below."

        ok = self.attempt(f"Creating key '{name}'", make)
        self.render()
        return ok

    # ---- the one-time box -------------------------------------------------------------------

    def show_value(self, key: Key, value: str, action: str) -> None:
        """Show a value in the one-time box (replacing any earlier box)."""
        self.dismiss_value()
        self.value_box = OneTimeValue(key, value, action, self._value_gone)
        self.reveal.children = (self.value_box,)

    def dismiss_value(self) -> None:
        """Remove the one-time box, if any, as its "Done" button does."""
        if self.value_box is not None:
            self.value_box.dismiss()

    def _value_gone(self) -> None:
        self.value_box = None
        self.reveal.children = ()

    # ---- inspection ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What the panel shows, as text (only the one-time box can hold a value)."""
        return {
            "title": keyview.text_of(self.title.value),
            "message": keyview.text_of(self.message.value),
            "form": self.form.describe(),
            "oneTime": self.value_box.text() if self.value_box is not None else None,
            "pager": self.key_list.pager_text(),
            "empty": keyview.text_of(self.key_list.empty.value),
            "rows": {row.name: row.describe() for row in self.key_list.rows.values()},
        }

    def __repr__(self) -> str:
        keys = getattr(self, "key_list", None)
        count = keys.keys_in_account if isinstance(keys, KeyList) else 0
        return f"qBraid API keys panel ({count} key{'' if count == 1 else 's'})"

    def close(self) -> None:
        """Close the panel and every widget model it made (the one-time box included)."""
        from ..kernel.events import EVENTS

        EVENTS.unsubscribe(self)
        if getattr(self, "value_box", None) is not None:
            self.dismiss_value()
        if isinstance(getattr(self, "key_list", None), KeyList):
            self.key_list.close_rows()
        keep = self.shared.widgets() if hasattr(self, "shared") else []
        for child in list(self.children):
            close_tree(child, keep)
        for shared in keep:
            shared.close()
        super().close()
