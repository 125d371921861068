"""The ipywidgets KeysPanel: list, create, inspect, rotate, revoke and use keys in a notebook.

The panel talks to this Jupyter server's `qbraid-keys` routes through `kernel.server.call`
(synchronous; widget callbacks run on the kernel's shell thread, so a "Working…" line shows
while a call runs). Key values reach widget state only in the one-time box, which its
"Done, I stored it" button empties and closes, so no widget model holds a value afterwards.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle

from . import keyview
from .kernel import holders
from .kernel.server import call
from .upstream import KeyApiError

Key = dict[str, Any]


class _Shared:
    """Layouts and styles shared by many row widgets, so 1,000 rows need fewer models."""

    def __init__(self) -> None:
        self.auto = w.Layout(width="auto")
        self.grow = w.Layout(flex="1 1 320px")
        self.tools = w.Layout(flex="0 0 auto", margin="0 0 0 auto")
        self.line = w.Layout(
            display="flex", flex_flow="row wrap", align_items="center", width="100%"
        )
        self.block = w.Layout(width="100%")
        self.button = w.ButtonStyle()
        self.html = HTMLStyle()

    def widgets(self) -> list[w.Widget]:
        return [
            self.auto, self.grow, self.tools, self.line, self.block, self.button, self.html
        ]  # fmt: skip


def _close_tree(widget: w.Widget, keep: Iterable[w.Widget] = ()) -> None:
    """Close a widget, its children and its own layout/style (not the shared ones)."""
    kept = {id(k) for k in keep}
    stack = [widget]
    while stack:
        node = stack.pop()
        if id(node) in kept:
            continue
        stack.extend(getattr(node, "children", ()) or ())
        for part in ("layout", "style"):
            sub = getattr(node, part, None)
            if isinstance(sub, w.Widget):
                stack.append(sub)
        node.close()


class OneTimeValue(w.VBox):
    """A key value shown once, with a Copy button and "Done, I stored it" to remove it."""

    def __init__(
        self, key: Mapping[str, Any], value: str, action: str, on_done: Callable[[], None]
    ) -> None:
        self.key_name = str(key.get("name", ""))
        self.content = w.HTML(keyview.one_time_html(key, value, action))
        self.done_button = w.Button(
            description="Done, I stored it", icon="check", button_style="success"
        )
        self.done_button.on_click(lambda _: self.dismiss())
        self._on_done = on_done
        super().__init__([self.content, self.done_button])

    def text(self) -> str:
        """What the box shows, as text (this includes the value, until dismissed)."""
        return keyview.text_of(self.content.value)

    def dismiss(self) -> None:
        """Forget the value: empty every trait that held it and close the box's models."""
        self.content.value = ""
        self.children = ()
        _close_tree(self.content)
        _close_tree(self.done_button)
        _close_tree(self)
        self._on_done()


class KeyRow(w.VBox):
    """One key: a summary line with its buttons; details and confirmations open inline."""

    def __init__(self, panel: KeysPanel, key: Key) -> None:
        s = panel.shared
        self.panel = panel
        self.key: Key = key
        self.summary = w.HTML(layout=s.grow, style=s.html)
        self.details_button = w.Button(
            description="Details", icon="chevron-down", tooltip="Show details",
            layout=s.auto, style=s.button,
        )  # fmt: skip
        self.use_button = w.Button(
            description="Use", icon="play", tooltip="Use in this notebook",
            layout=s.auto, style=s.button,
        )  # fmt: skip
        self.status_button = w.Button(layout=s.auto, style=s.button)
        self.rotate_button = w.Button(
            icon="refresh", tooltip="Regenerate key", layout=s.auto, style=s.button
        )
        self.revoke_button = w.Button(
            icon="trash", tooltip="Revoke key", layout=s.auto, style=s.button
        )
        self.tools = w.HBox(
            [
                self.details_button,
                self.use_button,
                self.status_button,
                self.rotate_button,
                self.revoke_button,
            ],
            layout=s.tools,
        )
        self.line = w.HBox([self.summary, self.tools], layout=s.line)
        self.details: w.HTML | None = None
        self.confirm: w.HBox | None = None
        self.confirm_button: w.Button | None = None
        self.cancel_button: w.Button | None = None
        self.details_button.on_click(lambda _: panel.toggle_details(self))
        self.use_button.on_click(lambda _: panel.use(self))
        self.status_button.on_click(lambda _: panel.toggle_status(self))
        self.rotate_button.on_click(lambda _: panel.ask_rotate(self))
        self.revoke_button.on_click(lambda _: panel.ask_revoke(self))
        super().__init__([self.line], layout=s.block)
        self.add_class("qbraid-keys-row")
        self.show(key)

    @property
    def name(self) -> str:
        return str(self.key.get("name", ""))

    def show(self, key: Key) -> None:
        """Show a (possibly updated) key object."""
        self.key = key
        summary = keyview.summary_html(key)
        if self.summary.value != summary:
            self.summary.value = summary
        active = key.get("status") == "active"
        self.status_button.description = "Deactivate" if active else "Activate"
        self.status_button.icon = "pause" if active else "play-circle"
        self.status_button.tooltip = (
            "Stop this key's value from working until activated again"
            if active
            else "Let this key's value work again"
        )
        if self.details is not None:
            self.details.value = keyview.details_html(key)
        self._layout()

    def _layout(self) -> None:
        parts: list[w.Widget] = [self.line]
        if self.confirm is not None:
            parts.append(self.confirm)
        if self.details is not None:
            parts.append(self.details)
        if tuple(parts) != self.children:
            self.children = tuple(parts)

    def open_details(self, key: Key) -> None:
        if self.details is None:
            s = self.panel.shared
            self.details = w.HTML(layout=s.block, style=s.html)
        self.details_button.icon, self.details_button.tooltip = "chevron-up", "Hide details"
        self.show(key)

    def close_details(self) -> None:
        details, self.details = self.details, None
        self.details_button.icon, self.details_button.tooltip = "chevron-down", "Show details"
        self._layout()
        if details is not None:
            _close_tree(details, self.panel.shared.widgets())

    def ask(self, text: str, label: str, on_yes: Callable[[], None]) -> None:
        """Show a confirmation line under the summary: text, a `label` button and Cancel."""
        self.drop_confirm()
        s = self.panel.shared
        self.confirm_button = w.Button(description=label, button_style="danger", layout=s.auto)
        self.cancel_button = w.Button(description="Cancel", layout=s.auto, style=s.button)
        self.confirm_button.on_click(lambda _: (self.drop_confirm(), on_yes()))
        self.cancel_button.on_click(lambda _: (self.drop_confirm(), self.panel.say("")))
        question = w.HTML(keyview.message_html(text, "info"), layout=s.grow, style=s.html)
        self.confirm = w.HBox([question, self.confirm_button, self.cancel_button], layout=s.line)
        self._layout()

    def drop_confirm(self) -> None:
        confirm, self.confirm = self.confirm, None
        self.confirm_button = self.cancel_button = None
        self._layout()
        if confirm is not None:
            _close_tree(confirm, self.panel.shared.widgets())

    def describe(self) -> dict[str, Any]:
        """What the row shows, as text."""
        return {
            "summary": keyview.text_of(self.summary.value),
            "buttons": [
                b.description or b.tooltip
                for b in (
                    self.details_button,
                    self.use_button,
                    self.status_button,
                    self.rotate_button,
                    self.revoke_button,
                )
            ],
            "details": keyview.text_of(self.details.value) if self.details is not None else None,
            "confirm": (
                [keyview.text_of(self.confirm.children[0].value)]
                + [b.description for b in self.confirm.children[1:]]
                if self.confirm is not None
                else None
            ),
        }


class KeysPanel(w.VBox):
    """qBraid API keys in a notebook: list, create, details, rotate, revoke, (de)activate, use.

    `KeysPanel()` loads the keys from this kernel's Jupyter server. `keys=` shows given key
    objects instead (no server call until an action). `page_size` rows are shown at a time.
    """

    def __init__(self, keys: list[Key] | None = None, *, page_size: int = 25, **kwargs: Any):
        self.shared = _Shared()
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.all_keys: list[Key] = []
        self.rows: dict[str, KeyRow] = {}
        self.scopes: list[dict[str, str]] | None = None
        self.value_box: OneTimeValue | None = None

        self.title = w.HTML()
        self.new_button = w.Button(description="New key", icon="plus", tooltip="Create a key")
        self.refresh_button = w.Button(icon="refresh", tooltip="Reload the list")
        self.new_button.layout.width = self.refresh_button.layout.width = "auto"
        header = w.HBox([self.title, self.new_button, self.refresh_button])
        header.layout.align_items = "center"
        self.title.layout.flex = "1 1 auto"
        self.message = w.HTML()

        self.name_input = w.Text(placeholder="e.g. ci", description="Name")
        self.scope_boxes: dict[str, w.Checkbox] = {}
        self.scope_list = w.VBox()
        self.store_box = w.Checkbox(
            value=True, description="Store the value in this Lab's keyring", indent=False
        )
        self.create_button = w.Button(description="Create key", icon="key", button_style="primary")
        self.cancel_create_button = w.Button(description="Cancel")
        self.form = w.VBox(
            [
                w.HTML(f"<b style='{keyview.FONT}'>New API key</b>"),
                self.name_input,
                w.HTML(f"<span style='{keyview.MUTED}'>Permissions</span>"),
                self.scope_list,
                self.store_box,
                w.HBox([self.create_button, self.cancel_create_button]),
            ]
        )
        self.form.layout.display = "none"
        self.form.layout.border = "1px solid var(--jp-border-color2, #ddd)"
        self.form.layout.padding = "6px"
        self.reveal = w.VBox()

        self.filter_input = w.Text(placeholder="Filter by name", continuous_update=False)
        self.prev_button = w.Button(icon="chevron-left", tooltip="Previous page")
        self.next_button = w.Button(icon="chevron-right", tooltip="Next page")
        self.prev_button.layout.width = self.next_button.layout.width = "auto"
        self.page_label = w.HTML()
        self.pager = w.HBox(
            [self.filter_input, self.prev_button, self.page_label, self.next_button]
        )
        self.pager.layout.align_items = "center"
        self.empty = w.HTML()
        self.row_list = w.VBox()

        self.new_button.on_click(lambda _: self.open_form())
        self.refresh_button.on_click(lambda _: self.reload())
        self.create_button.on_click(lambda _: self.create())
        self.cancel_create_button.on_click(lambda _: self.close_form())
        self.prev_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(+1))
        self.filter_input.observe(lambda _: self.turn(0, first=True), names="value")

        super().__init__(
            [header, self.message, self.form, self.reveal, self.pager, self.empty, self.row_list],
            **kwargs,
        )
        self.add_class("qbraid-keys-panel")
        if keys is None:
            self.reload()
        else:
            self.all_keys = [_without_value(k) for k in keys]
            self.render()

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
            gone = (
                " It may have been revoked elsewhere: reload the list." if err.status == 404 else ""
            )
            self.say(err.message + gone, "error")
            return False
        except Exception as err:  # never a traceback in the panel
            self.say(f"{working} failed: {type(err).__name__}: {err}", "error")
            return False
        self.say(done or "", "ok")
        return True

    # ---- the list ---------------------------------------------------------------------------

    def reload(self) -> bool:
        """Fetch the keys from the server and show them."""

        def load() -> None:
            self.all_keys = [_without_value(k) for k in call("GET", "api-keys")]

        ok = self.attempt("Loading keys", load)
        self.render()
        return ok

    def visible(self) -> list[Key]:
        """The keys that pass the name filter."""
        needle = self.filter_input.value.strip().lower()
        if not needle:
            return self.all_keys
        return [k for k in self.all_keys if needle in str(k.get("name", "")).lower()]

    def turn(self, step: int, *, first: bool = False) -> None:
        """Go to the previous or next page (or the first, after the filter changed)."""
        self.page = 0 if first else self.page + step
        self.render()

    def render(self) -> None:
        """Show the current page of keys, reusing rows that are still on it."""
        shown = self.visible()
        pages = max(1, -(-len(shown) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * self.page_size
        page = shown[start : start + self.page_size]
        rows: dict[str, KeyRow] = {}
        for key in page:
            row = self.rows.pop(str(key.get("id")), None)
            if row is None:
                row = KeyRow(self, key)
            elif row.key is not key:
                row.show(key)
            rows[str(key.get("id"))] = row
        old, self.rows = self.rows, rows
        self.row_list.children = tuple(rows.values())
        for row in old.values():
            _close_tree(row, self.shared.widgets())

        count = len(self.all_keys)
        self.title.value = (
            f"<b style='{keyview.FONT}; font-size: var(--jp-ui-font-size2, 14px)'>"
            f"qBraid API keys</b> <span style='{keyview.MUTED}'>· {count} "
            f"key{'' if count == 1 else 's'}</span>"
        )
        self.pager.layout.display = "flex" if count > self.page_size else "none"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self.page_label.value = (
            f"<span style='{keyview.MUTED}'>{start + 1 if page else 0}–{start + len(page)}"
            f" of {len(shown)}</span>"
        )
        if not self.all_keys:
            empty = "No keys yet. Create one with New key."
        elif not shown:
            empty = "No key matches the filter."
        else:
            empty = ""
        self.empty.value = f"<div style='{keyview.MUTED}'>{empty}</div>" if empty else ""

    def row(self, name: str) -> KeyRow:
        """The row of the key named `name` on the current page."""
        for row in self.rows.values():
            if row.name == name:
                return row
        raise KeyError(f"no row for key {name!r} on this page")

    def _replace(self, key: Key) -> Key:
        key = _without_value(key)
        self.all_keys = [key if k.get("id") == key.get("id") else k for k in self.all_keys]
        return key

    # ---- create ----------------------------------------------------------------------------

    def open_form(self) -> None:
        """Show the create form, with a checkbox per scope the server offers."""
        if self.scopes is None:

            def load() -> None:
                self.scopes = call("GET", "api-key-scopes")

            if not self.attempt("Loading permissions", load):
                return
            self.scope_boxes = {
                s["name"]: w.Checkbox(
                    value=True,
                    description=f"{s['name']} — {s.get('description', '')}",
                    indent=False,
                )
                for s in self.scopes or []
            }
            for box in self.scope_boxes.values():
                box.layout.width = "auto"
            self.scope_list.children = tuple(self.scope_boxes.values())
        self.form.layout.display = "flex"

    def close_form(self) -> None:
        """Hide the create form and clear its name."""
        self.form.layout.display = "none"
        self.name_input.value = ""

    def create(self) -> bool:
        """Create a key from the form; show its value once."""
        name = self.name_input.value.strip()
        if not name:
            self.say("Give the key a name, e.g. ci.", "error")
            return False
        body: dict[str, Any] = {"name": name, "store": bool(self.store_box.value)}
        if self.scope_boxes:
            body["scopes"] = [s for s, box in self.scope_boxes.items() if box.value]

        def make() -> str:
            answer = call("POST", "api-keys", body)
            value = answer.pop("value", "")
            key = _without_value(answer)
            self.all_keys.insert(0, key)
            self.page = 0
            self.close_form()
            self.show_value(key, value, "Created key")
            return f"Created key '{key.get('name')}'. Copy its value below."

        ok = self.attempt(f"Creating key '{name}'", make)
        self.render()
        return ok

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

    # ---- row actions -----------------------------------------------------------------------

    def toggle_details(self, row: KeyRow) -> None:
        """Open a row's details (fetching fresh usage), or close them."""
        if row.details is not None:
            row.close_details()
            return

        def fetch() -> None:
            key = self._replace(call("GET", f"api-keys/{row.key['id']}"))
            row.open_details(key)

        self.attempt(f"Loading '{row.name}'", fetch)

    def toggle_status(self, row: KeyRow) -> None:
        """Deactivate an active key, or activate an inactive one."""
        status = "inactive" if row.key.get("status") == "active" else "active"

        def patch() -> str:
            key = self._replace(call("PATCH", f"api-keys/{row.key['id']}", {"status": status}))
            row.show(key)
            if status == "inactive":
                return f"'{row.name}' is inactive: its value is refused until you activate it."
            return f"'{row.name}' is active again."

        self.attempt(
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

        self.attempt(f"Checking who uses '{row.name}'", ask)

    def rotate(self, row: KeyRow) -> bool:
        """Give a key a new value (same name and permissions); show it once."""

        def regenerate() -> str:
            answer = call("POST", f"api-keys/{row.key['id']}/rotate")
            value = answer.pop("value", "")
            key = self._replace(answer)
            row.show(key)
            self.show_value(key, value, "Regenerated key")
            done = f"Regenerated '{key.get('name')}': the old value no longer works."
            return done + self._refresh_here(key)

        return self.attempt(f"Regenerating '{row.name}'", regenerate)

    def _refresh_here(self, key: Key) -> str:
        """Whether this kernel, if it used the rotated key, follows it (see kernel/follow.py)."""
        from .kernel.keys import STATE

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

        self.attempt(f"Checking who uses '{row.name}'", ask)

    def revoke(self, row: KeyRow) -> bool:
        """Revoke a key: it is removed for good, and from this Lab's keyring."""
        key_id, name = row.key.get("id"), row.name

        def delete() -> str:
            answer = call("DELETE", f"api-keys/{key_id}")
            self.all_keys = [k for k in self.all_keys if k.get("id") != key_id]
            note = f" ({answer['keyringError']})" if answer.get("keyringError") else ""
            return f"Revoked '{name}': its value no longer works.{note}"

        ok = self.attempt(f"Revoking '{name}'", delete)
        if ok:
            self.render()
        return ok

    def use(self, row: KeyRow) -> bool:
        """Use the key in this notebook's kernel, like `%qbraid_key use NAME`."""
        return self.attempt(f"Using '{row.name}' in this notebook", lambda: _use_here(row.name))

    # ---- inspection ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What the panel shows, as text (only the one-time box can hold a value)."""
        return {
            "title": keyview.text_of(self.title.value),
            "message": keyview.text_of(self.message.value),
            "form": (
                {
                    "name": self.name_input.value,
                    "scopes": [s for s, b in self.scope_boxes.items() if b.value],
                    "store": self.store_box.value,
                }
                if self.form.layout.display != "none"
                else None
            ),
            "oneTime": self.value_box.text() if self.value_box is not None else None,
            "pager": keyview.text_of(self.page_label.value)
            if self.pager.layout.display != "none"
            else None,
            "empty": keyview.text_of(self.empty.value),
            "rows": {row.name: row.describe() for row in self.rows.values()},
        }

    def __repr__(self) -> str:
        count = len(getattr(self, "all_keys", []))
        return f"qBraid API keys panel ({count} key{'' if count == 1 else 's'})"

    def close(self) -> None:
        """Close the panel and every widget model it made (the one-time box included)."""
        if getattr(self, "value_box", None) is not None:
            self.dismiss_value()
        for row in list(getattr(self, "rows", {}).values()):
            _close_tree(row, self.shared.widgets())
        self.rows = {}
        keep = self.shared.widgets() if hasattr(self, "shared") else []
        for child in list(self.children):
            _close_tree(child, keep)
        for shared in keep:
            shared.close()
        super().close()


def _use_here(name: str) -> str:
    """`%qbraid_key use NAME` in this kernel, with nothing printed; returns its message."""
    from .kernel import use_key

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return str(use_key(name))


def _without_value(key: Mapping[str, Any]) -> Key:
    """A key object without any `value` field (so it can be kept and shown)."""
    return {k: v for k, v in key.items() if k != "value"}
