"""The panel's list of keys: every key object it knows, the name filter, the pager, and one
`KeyRow` per key on the current page."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from .. import keyview
from .keyrow import KeyRow
from .shared import Key, Shared, close_tree, without_value


class KeyList(w.VBox):
    """A filtered, paged list of keys; rows still on the page are reused when it changes."""

    def __init__(self, shared: Shared, make_row: Callable[[Key], KeyRow], page_size: int) -> None:
        self.shared = shared
        self.make_row = make_row
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.all_keys: list[Key] = []
        self.rows: dict[str, KeyRow] = {}

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

        self.prev_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(+1))
        self.filter_input.observe(lambda _: self.turn(0, first=True), names="value")
        super().__init__([self.pager, self.empty, self.row_list])

    # ---- the keys ---------------------------------------------------------------------------

    def set_keys(self, keys: list[Key]) -> None:
        """Hold these key objects (any value field dropped); call `render` to show them."""
        self.all_keys = [without_value(k) for k in keys]

    def insert(self, key: Key) -> Key:
        """Put a new key first and go to the first page."""
        key = without_value(key)
        self.all_keys.insert(0, key)
        self.page = 0
        return key

    def replace(self, key: Key) -> Key:
        """Hold an updated key object in place of the one with its id."""
        key = without_value(key)
        self.all_keys = [key if k.get("id") == key.get("id") else k for k in self.all_keys]
        return key

    def remove(self, key_id: str) -> None:
        """Forget the key with this id."""
        self.all_keys = [k for k in self.all_keys if k.get("id") != key_id]

    # ---- the page ---------------------------------------------------------------------------

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
                row = self.make_row(key)
            elif row.key is not key:
                row.show(key)
            rows[str(key.get("id"))] = row
        old, self.rows = self.rows, rows
        self.row_list.children = tuple(rows.values())
        for row in old.values():
            close_tree(row, self.shared.widgets())

        count = len(self.all_keys)
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

    # ---- inspection -------------------------------------------------------------------------

    def pager_text(self) -> str | None:
        """What the pager says ("21–40 of 1000"), or None while it is hidden."""
        if self.pager.layout.display == "none":
            return None
        return keyview.text_of(self.page_label.value)

    def close_rows(self) -> None:
        """Close every row's models (the shared layouts stay)."""
        for row in list(self.rows.values()):
            close_tree(row, self.shared.widgets())
        self.rows = {}
