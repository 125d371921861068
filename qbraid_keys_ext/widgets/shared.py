"""What every part of the panel uses: shared layouts and styles, closing a widget tree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as w
from ipywidgets.widgets.widget_string import HTMLStyle

Key = dict[str, Any]


class Shared:
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


def close_tree(widget: w.Widget, keep: Iterable[w.Widget] = ()) -> None:
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


def without_value(key: Mapping[str, Any]) -> Key:
    """A key object without any `value` field (so it can be kept and shown)."""
    return {k: v for k, v in key.items() if k != "value"}
