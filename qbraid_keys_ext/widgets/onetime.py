"""The one-time box: a new key value, shown once, until "Done, I stored it"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w

from .. import keyview
from .shared import close_tree


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
        close_tree(self.content)
        close_tree(self.done_button)
        close_tree(self)
        self._on_done()
