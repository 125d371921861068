"""One row of the panel's list: a key's summary line and buttons, its confirmation line and
its inline details. What the buttons do is in `actions.KeyActions`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import keyview
from .shared import Key, Shared, close_tree

if TYPE_CHECKING:
    from .actions import KeyActions


class KeyRow(w.VBox):
    """One key: a summary line with its buttons; details and confirmations open inline."""

    def __init__(self, shared: Shared, actions: KeyActions, key: Key) -> None:
        s = self.shared = shared
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
        self.history: list[Key] = []
        self.confirm: w.HBox | None = None
        self.confirm_button: w.Button | None = None
        self.cancel_button: w.Button | None = None
        self.actions = actions
        self.details_button.on_click(lambda _: actions.toggle_details(self))
        self.use_button.on_click(lambda _: actions.use(self))
        self.status_button.on_click(lambda _: actions.toggle_status(self))
        self.rotate_button.on_click(lambda _: actions.ask_rotate(self))
        self.revoke_button.on_click(lambda _: actions.ask_revoke(self))
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
        blocker = keyview.use_blocker(key)
        self.use_button.disabled = blocker is not None
        self.use_button.tooltip = blocker or "Use in this notebook"
        active = key.get("status") == "active"
        self.status_button.description = "Deactivate" if active else "Activate"
        self.status_button.icon = "pause" if active else "play-circle"
        self.status_button.tooltip = (
            "Stop this key's value from working until activated again"
            if active
            else "Let this key's value work again"
        )
        if self.details is not None:
            self.details.value = keyview.details_html(key, history=self.history)
        self._layout()

    def _layout(self) -> None:
        parts: list[w.Widget] = [self.line]
        if self.confirm is not None:
            parts.append(self.confirm)
        if self.details is not None:
            parts.append(self.details)
        if tuple(parts) != self.children:
            self.children = tuple(parts)

    def open_details(self, key: Key, history: list[Key] | None = None) -> None:
        if history is not None:
            self.history = history
        if self.details is None:
            self.details = w.HTML(layout=self.shared.block, style=self.shared.html)
        self.details_button.icon, self.details_button.tooltip = "chevron-up", "Hide details"
        self.show(key)

    def close_details(self) -> None:
        details, self.details = self.details, None
        self.details_button.icon, self.details_button.tooltip = "chevron-down", "Show details"
        self._layout()
        if details is not None:
            close_tree(details, self.shared.widgets())

    def ask(self, text: str, label: str, on_yes: Callable[[], None]) -> None:
        """Show a confirmation line under the summary: text, a `label` button and Cancel."""
        self.drop_confirm()
        s = self.shared
        self.confirm_button = w.Button(description=label, button_style="danger", layout=s.auto)
        self.cancel_button = w.Button(description="Cancel", layout=s.auto, style=s.button)
        self.confirm_button.on_click(lambda _: (self.drop_confirm(), on_yes()))
        self.cancel_button.on_click(lambda _: (self.drop_confirm(), self.actions.say("")))
        question = w.HTML(keyview.message_html(text, "info"), layout=s.grow, style=s.html)
        self.confirm = w.HBox([question, self.confirm_button, self.cancel_button], layout=s.line)
        self._layout()

    def drop_confirm(self) -> None:
        confirm, self.confirm = self.confirm, None
        self.confirm_button = self.cancel_button = None
        self._layout()
        if confirm is not None:
            close_tree(confirm, self.shared.widgets())

    def describe(self) -> dict[str, Any]:
        """What the row shows, as text."""
        buttons = (
            self.details_button,
            self.use_button,
            self.status_button,
            self.rotate_button,
            self.revoke_button,
        )
        return {
            "summary": keyview.text_of(self.summary.value),
            "buttons": [b.description or b.tooltip for b in buttons],
            "disabled": {b.description or b.tooltip: b.tooltip for b in buttons if b.disabled},
            "details": keyview.text_of(self.details.value) if self.details is not None else None,
            "confirm": (
                [keyview.text_of(self.confirm.children[0].value)]
                + [b.description for b in self.confirm.children[1:]]
                if self.confirm is not None
                else None
            ),
        }
