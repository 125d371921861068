"""The panel's create form: a name, a checkbox per permission, and whether to keep the value
in this Lab's keyring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from .. import keyview
from ..service.store import NAME_MAX


class CreateForm(w.VBox):
    """The "New API key" form; hidden until `open`."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] | None = None
        # No length limit on the field: a pasted name that is too long stays whole, and the
        # counter beside it says so (the key API allows NAME_MAX characters).
        self.name_input = w.Text(placeholder="e.g. ci", description="Name")
        self.name_count = w.HTML()
        self.name_input.observe(lambda _: self._count(), names="value")
        self._count()
        self.scope_boxes: dict[str, w.Checkbox] = {}
        self.scope_list = w.VBox()
        self.store_box = w.Checkbox(
            value=True, description="Store the value in this Lab's keyring", indent=False
        )
        self.create_button = w.Button(description="Create key", icon="key", button_style="primary")
        self.cancel_button = w.Button(description="Cancel")
        self.cancel_button.on_click(lambda _: self.close_form())
        super().__init__(
            [
                w.HTML(f"<b style='{keyview.FONT}'>New API key</b>"),
                w.HBox([self.name_input, self.name_count]),
                w.HTML(
                    f"<span style='{keyview.MUTED}'>Permissions: read-only ones are ticked; tick"
                    " one that spends credits only if this key needs it.</span>"
                ),
                self.scope_list,
                self.store_box,
                w.HBox([self.create_button, self.cancel_button]),
            ]
        )
        self.layout.display = "none"
        self.layout.border = "1px solid var(--jp-border-color2, #ddd)"
        self.layout.padding = "6px"

    @property
    def is_open(self) -> bool:
        return self.layout.display != "none"

    def set_scopes(self, scopes: list[dict[str, Any]]) -> None:
        """One checkbox per scope the server offers; only the default (read-only) ones ticked."""
        self.scopes = scopes
        self.scope_boxes = {
            s["name"]: w.Checkbox(
                value=is_default(s),
                description=scope_label(s),
                description_allow_html=True,
                indent=False,
            )
            for s in scopes
        }
        for box in self.scope_boxes.values():
            box.layout.width = "auto"
        self.scope_list.children = tuple(self.scope_boxes.values())

    def open_form(self) -> None:
        """Show the form."""
        self.layout.display = "flex"

    def close_form(self) -> None:
        """Hide the form and clear its name."""
        self.layout.display = "none"
        self.name_input.value = ""

    def name(self) -> str:
        """The name typed, trimmed."""
        return self.name_input.value.strip()

    def name_problem(self) -> str | None:
        """What is wrong with the name typed, as a sentence, or None."""
        name = self.name()
        if not name:
            return "Give the key a name, e.g. ci."
        if len(name) > NAME_MAX:
            return f"Names are at most {NAME_MAX} characters long; this one has {len(name)}."
        return None

    def _count(self) -> None:
        length = len(self.name())
        over = length > NAME_MAX
        style = (
            "color: var(--jp-error-color1, #b00020); font-weight: 600" if over else keyview.MUTED
        )
        text = f"{length}/{NAME_MAX} characters" + (": too long" if over else "")
        self.name_count.value = f"<span style='{style}'>{text}</span>"

    def body(self) -> dict[str, Any]:
        """The create request the form describes."""
        body: dict[str, Any] = {"name": self.name(), "store": bool(self.store_box.value)}
        if self.scope_boxes:
            body["scopes"] = [s for s, box in self.scope_boxes.items() if box.value]
        return body

    def describe(self) -> dict[str, Any] | None:
        """What the form holds, or None while it is hidden."""
        if not self.is_open:
            return None
        return {
            "name": self.name_input.value,
            "count": keyview.text_of(self.name_count.value),
            "scopes": [s for s, b in self.scope_boxes.items() if b.value],
            "store": self.store_box.value,
        }


def is_default(scope: Mapping[str, Any]) -> bool:
    """Whether the form ticks a scope at first: the service's default (read-only) set."""
    return bool(scope.get("default", str(scope.get("name", "")).endswith(":read")))


def spends_credits(scope: Mapping[str, Any]) -> bool:
    """Whether a scope lets a key spend credits (an upstream that does not say: jobs:write)."""
    return bool(scope.get("spendsCredits", scope.get("name") == "jobs:write"))


def scope_label(scope: Mapping[str, Any]) -> str:
    """A scope's checkbox label (HTML): name, description, and a mark if it spends credits."""
    mark = (
        f" <span style='{keyview.PILL_WARN}'>spends credits</span>" if spends_credits(scope) else ""
    )
    return (
        f"<code>{keyview.esc(scope.get('name', ''))}</code> — "
        f"{keyview.esc(scope.get('description', ''))}{mark}"
    )
