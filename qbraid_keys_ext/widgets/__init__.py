"""The ipywidgets KeysPanel: list, create, inspect, rotate, revoke and use keys in a notebook.

| module | holds |
| --- | --- |
| `panel` | `KeysPanel`: header, status line, create form, one-time box and list, put together |
| `keylist` | `KeyList`: the key objects, the name filter, the pager and the rows of one page |
| `keyrow` | `KeyRow`: one key's summary line, buttons, confirmation line and inline details |
| `actions` | `KeyActions`: what a row's buttons do (details, status, regenerate, revoke, use) |
| `createform` | `CreateForm`: name, permissions and keyring choice of a new key |
| `onetime` | `OneTimeValue`: a new value, shown once |
| `shared` | layouts and styles shared by all rows, and closing a tree of widgets |
"""

from __future__ import annotations

from .keyrow import KeyRow
from .onetime import OneTimeValue
from .panel import KeysPanel

__all__ = ["KeyRow", "KeysPanel", "OneTimeValue"]
