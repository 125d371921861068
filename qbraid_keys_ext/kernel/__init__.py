"""The kernel side: find the Jupyter server, use keys, hide their values.

`use_key(name)` does what `%qbraid_key use NAME` does and returns its one-line message; the
sidebar and the keys panel call it. Failures raise `QbraidKeyError` (a `KeyApiError`) whose
message is one sentence and which IPython shows without a traceback.
"""

from __future__ import annotations

from .keys import (
    BadValue,
    KeyInactive,
    KeyNotStored,
    KeyringUnavailable,
    QbraidKeyError,
    UnknownKey,
    add_key,
    clear_key,
    current_key,
    list_keys,
    status_text,
    use_key,
)

__all__ = [
    "BadValue",
    "KeyInactive",
    "KeyNotStored",
    "KeyringUnavailable",
    "QbraidKeyError",
    "UnknownKey",
    "add_key",
    "clear_key",
    "current_key",
    "list_keys",
    "status_text",
    "use_key",
]
