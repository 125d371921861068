"""Hide key values in everything this kernel sends.

Every message an ipykernel sends (stdout, stderr, execute results, display data, errors and
tracebacks, replies on the shell channel, widget comm messages) is packed to bytes by the
kernel's one `jupyter_client.Session`. `Redactor.install` wraps that session's `pack`, so a
value this kernel has used is replaced by a label such as `[qbraid key 'ci' hidden]` in the
packed JSON before it is signed and leaves the process, whatever produced it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

JSON_PACKERS = ("json", "orjson")


def label(name: str) -> str:
    """What a hidden value of key `name` is shown as."""
    return f"[qbraid key {name!r} hidden]"


class Redactor:
    """The values to hide in this kernel, and the hook that hides them."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()
        self._sessions: list[Any] = []

    def hide(self, value: str, name: str) -> None:
        """From now on, show `value` as the label of key `name`."""
        if value:
            with self._lock:
                self._labels[value] = label(name)

    def __bool__(self) -> bool:
        return bool(self._labels)

    def redact_text(self, text: str) -> str:
        """`text` with every hidden value replaced by its label."""
        for value, shown in list(self._labels.items()):
            if value in text:
                text = text.replace(value, shown)
        return text

    def redact(self, obj: Any) -> Any:
        """A copy of a JSON-like object with hidden values replaced (in keys and values)."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, dict):
            return {self.redact(k): self.redact(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.redact(v) for v in obj)
        return obj

    def redact_packed(self, data: bytes, obj: Any, pack: Any, json_like: bool) -> bytes:
        """Packed bytes with hidden values replaced; repacks non-JSON packers from `obj`."""
        found = [v for v in list(self._labels) if v.encode() in data]
        if not found:
            return data
        if not json_like:
            return pack(self.redact(obj))
        for value in found:
            # The label is escaped as a JSON string body, so the document stays valid JSON.
            shown = json.dumps(self._labels[value], ensure_ascii=False)[1:-1]
            data = data.replace(value.encode(), shown.encode())
        return data

    def install(self, session: Any) -> None:
        """Wrap `session.pack` (once per session) so every message sent is redacted."""
        if session is None or any(s is session for s in self._sessions):
            return
        original = session.pack
        json_like = str(getattr(session, "packer", "json")) in JSON_PACKERS
        redactor = self

        def pack(obj: Any) -> bytes:
            data = original(obj)
            if not redactor._labels:
                return data
            return redactor.redact_packed(data, obj, original, json_like)

        pack.__wrapped__ = original  # type: ignore[attr-defined]
        session.pack = pack
        self._sessions.append(session)

    def install_in(self, shell: Any) -> bool:
        """Install on the kernel behind an IPython shell; False outside a kernel."""
        kernel = getattr(shell, "kernel", None)
        session = getattr(kernel, "session", None)
        if session is None:
            return False
        self.install(session)
        return True
