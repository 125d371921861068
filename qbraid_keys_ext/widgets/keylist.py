"""The panel's list of keys: the current page, the search box, the pager, and one `KeyRow`
per key on the page.

Two sources: the server's pages (`fetch` given: each page is one `GET api-keys?limit=&cursor=`,
the search is the server's `q=`, so no more than a page of keys is ever in the kernel), or
key objects handed to the panel (`set_keys`: paged and filtered here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .. import keyview
from .keyrow import KeyRow
from .shared import Key, Shared, close_tree, without_value

Fetch = Callable[[dict[str, str]], dict[str, Any]]
"""One page of `GET api-keys` for these query arguments: `{"data", "page": {"next", "total"}}`."""


class KeyList(w.VBox):
    """A searchable, paged list of keys; rows still on the page are reused when it changes."""

    def __init__(
        self,
        shared: Shared,
        make_row: Callable[[Key], KeyRow],
        page_size: int,
        fetch: Fetch | None = None,
    ) -> None:
        self.shared = shared
        self.make_row = make_row
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.fetch = fetch
        self.all_keys: list[Key] = []  # given keys; or, from the server, the current page
        self.cursors: list[str | None] = [None]  # from the server: where each page starts
        self.following: str | None = None  # from the server: the next page's cursor
        self.total = 0  # from the server: the keys that match the search
        self.account_total = 0  # from the server: every key of the account (last seen)
        self.rows: dict[str, KeyRow] = {}

        placeholder = "Search name or hint" if fetch else "Filter by name"
        self.filter_input = w.Text(placeholder=placeholder, continuous_update=False)
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

    def load(self) -> None:
        """Fetch the current page from the server again (the search applied); then `render`."""
        if self.fetch is None:
            return
        params = {"limit": str(self.page_size)}
        if self.cursors[self.page]:
            params["cursor"] = str(self.cursors[self.page])
        if self.filter_input.value.strip():
            params["q"] = self.filter_input.value.strip()
        answer = self.fetch(params)
        self.set_keys(answer["data"])
        self.following = answer["page"].get("next")
        self.total = int(answer["page"].get("total") or 0)
        if "q" not in params:
            self.account_total = self.total
        if not self.all_keys and self.page > 0:  # the page emptied (keys revoked): go back
            self.page -= 1
            self.load()

    @property
    def count(self) -> int:
        """How many keys the list holds (from the server: match the search)."""
        return self.total if self.fetch else len(self.all_keys)

    @property
    def keys_in_account(self) -> int:
        """How many keys the account has (as far as this list knows)."""
        return self.account_total if self.fetch else len(self.all_keys)

    def insert(self, key: Key) -> Key:
        """Put a new key first and go to the first page (from the server: fetched again)."""
        key = without_value(key)
        self.page = 0
        if self.fetch is not None:
            self.cursors = [None]
            self.load()
        else:
            self.all_keys.insert(0, key)
        return key

    def replace(self, key: Key) -> Key:
        """Hold an updated key object in place of the one with its id."""
        key = without_value(key)
        self.all_keys = [key if k.get("id") == key.get("id") else k for k in self.all_keys]
        return key

    def remove(self, key_id: str) -> None:
        """Forget the key with this id."""
        before = len(self.all_keys)
        self.all_keys = [k for k in self.all_keys if k.get("id") != key_id]
        self.total -= before - len(self.all_keys)
        self.account_total -= before - len(self.all_keys)

    # ---- the page ---------------------------------------------------------------------------

    def visible(self) -> list[Key]:
        """The keys that pass the name filter (from the server: the page, searched there)."""
        needle = self.filter_input.value.strip().lower()
        if not needle or self.fetch is not None:
            return self.all_keys
        return [k for k in self.all_keys if needle in str(k.get("name", "")).lower()]

    def turn(self, step: int, *, first: bool = False) -> None:
        """Go to the previous or next page (or the first, after the filter changed)."""
        if self.fetch is None:
            self.page = 0 if first else self.page + step
            self.render()
            return
        if first:
            self.page, self.cursors = 0, [None]
        elif step > 0 and self.following:
            self.cursors = [*self.cursors[: self.page + 1], self.following]
            self.page += 1
        elif step < 0 and self.page > 0:
            self.page -= 1
        self.on_turn()

    def on_turn(self) -> None:
        """Load and show the page turned to (the panel runs it with a "Working…" line)."""
        self.load()
        self.render()

    def _window(self) -> tuple[list[Key], int, int, int]:
        """The keys on the current page, the first one's position, the count, the pages."""
        if self.fetch is not None:
            pages = self.page + (2 if self.following else 1)
            return self.all_keys, self.page * self.page_size, self.total, pages
        shown = self.visible()
        pages = max(1, -(-len(shown) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * self.page_size
        return shown[start : start + self.page_size], start, len(shown), pages

    def render(self) -> None:
        """Show the current page of keys, reusing rows that are still on it."""
        page, start, matching, pages = self._window()
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

        searching = bool(self.filter_input.value.strip())
        paged = self.count > self.page_size or self.page > 0 or (self.fetch and searching)
        self.pager.layout.display = "flex" if paged else "none"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self.page_label.value = (
            f"<span style='{keyview.MUTED}'>{start + 1 if page else 0}–{start + len(page)}"
            f" of {matching}</span>"
        )
        if not page and not searching:
            empty = "No keys yet. Create one with New key."
        elif not page:
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
