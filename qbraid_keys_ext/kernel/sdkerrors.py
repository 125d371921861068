"""One line instead of a traceback when the qBraid SDK is refused because of this kernel's key.

When qbraid-core or the qBraid SDK raises because the API answered 403 ``INSUFFICIENT_SCOPE``
(the key in use lacks the scope a call needs, e.g. ``jobs:write`` to submit a job) or 402
``INSUFFICIENT_CREDITS``, IPython shows one sentence naming the key and the scope or the
balance, and what to do, instead of a page of SDK frames. Every other exception is shown
exactly as before. ``explain`` reads the error chain (qbraid-core's ``RequestsApiError``
carries the HTTP status and the API's error code); ``install`` registers it on the shell,
keeping any custom exception handler that was already there.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from .follow import KeyGone

SCOPE_HELP = (
    "Use a key that has that scope (`%qbraid_key use NAME`), or create one in the API Keys sidebar."
)
_INSTALLED = "_qbraid_keys_sdk_errors"


def _api_errors(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, outermost first (each once)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain(exc: BaseException, key_name: str | None = None) -> str | None:
    """The one-line message for an API refusal caused by the key in use, else None."""
    for err in _api_errors(exc):
        if isinstance(err, KeyGone):  # revoked or deactivated: its own line, whatever wraps it
            return str(err)
        code = getattr(err, "code", None)
        if not isinstance(code, str):
            continue
        key = f"qBraid API key {key_name!r}" if key_name else "This kernel's qBraid API key"
        reason = " ".join(str(err).split())
        outer = " ".join(str(exc).split())  # e.g. "Failed to create job: <reason>"
        said = outer if reason and reason in outer else reason
        if code == "INSUFFICIENT_SCOPE":
            return f"{key} was refused: {said} {SCOPE_HELP}"
        if code == "INSUFFICIENT_CREDITS":
            return f"{key} was refused: {said}"
    return None


def _base_classes() -> tuple[type[BaseException], ...]:
    """The exception classes of qbraid-core and the qBraid SDK that are installed."""
    found = []
    for module, name in (("qbraid_core.exceptions", "QbraidException"), ("qbraid", "QbraidError")):
        root = module.split(".")[0]
        try:
            if importlib.util.find_spec(root) is None:
                continue
            cls = getattr(importlib.import_module(module), name, None)
        except Exception:  # a broken optional package must not break the kernel
            continue
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def install(shell: Any, key_name: Callable[[], str | None]) -> None:
    """Show qBraid API refusals caused by the key as one line in this shell (once)."""
    if shell is None or getattr(shell, _INSTALLED, False) or not hasattr(shell, "set_custom_exc"):
        return
    ours = _base_classes()
    if not ours:
        return
    before_types = tuple(getattr(shell, "custom_exceptions", ()) or ())
    before = getattr(shell, "CustomTB", None) if before_types else None

    def handler(self: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        line = explain(value, key_name()) if isinstance(value, ours) else None
        if line is not None:
            self._showtraceback(etype, value, [line])
            return [line]
        if before is not None and isinstance(value, before_types):
            return before(etype, value, tb, tb_offset=tb_offset)
        self.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None

    shell.set_custom_exc(before_types + ours, handler)
    setattr(shell, _INSTALLED, True)
