"""A key list answer of the key API, passed on with `"stored"` added to each key object.

The proxy must read the ids of the keys (to ask the keyring which values it holds) and add
`"stored"` to each object. Decoding the answer into Python objects and encoding them again
costs as much as everything else the proxy does on a list; instead, each key object is
decoded where it stands in the upstream's text (to check it and read its id), and the
answer is the upstream's own text with `, "stored": true|false` written before each
object's closing brace. An answer not in the key API's usual shape is decoded in full
instead (`parse` returns None).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_HEAD = re.compile(r'\s*\{\s*"success"\s*:\s*true\s*,\s*"data"\s*:\s*\[')
_SPACE = re.compile(r"\s*")
_TAIL = re.compile(r'\]\s*(?:,\s*"page"\s*:\s*(\{[^{}]*\})\s*)?\}\s*')
_WHITESPACE = " \t\n\r"
_SCAN = json.JSONDecoder().scan_once


@dataclass
class KeyListAnswer:
    """A `{"success": true, "data": [key objects], "page"?}` answer, as text and objects."""

    text: str
    keys: list[dict[str, Any]]
    spans: list[tuple[int, int]]
    """Where each key object is in `text` (start, end)."""
    head: int
    """Where the data array's first element may start."""
    tail: int
    """Where the data array's closing bracket is."""

    def with_stored(self, held: set[str]) -> bytes:
        """The answer's text with `"stored"` in each key object (last, so it wins)."""
        parts = [self.text[: self.head]]
        for i, (key, (start, end)) in enumerate(zip(self.keys, self.spans, strict=True)):
            flag = "true" if key.get("id") in held else "false"
            if i:
                parts.append(",")
            body = self.text[start : end - 1]  # without the closing brace
            parts.append(f'{body}{", " if key else ""}"stored": {flag}}}')
        parts.append(self.text[self.tail :])
        return "".join(parts).encode()


def parse(raw: bytes) -> KeyListAnswer | None:
    """The key list in `raw`, or None when it is not in the usual shape (decode it in full)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    head = _HEAD.match(text)
    if head is None:
        return None
    keys: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    pos = head.end()
    try:
        while True:
            if text[pos] in _WHITESPACE:
                pos = _SPACE.match(text, pos).end()
            if text[pos] == "]":
                break
            if keys:
                if text[pos] != ",":
                    return None
                pos += 1
                if text[pos] in _WHITESPACE:
                    pos = _SPACE.match(text, pos).end()
            key, end = _SCAN(text, pos)  # the C scanner json.loads uses, one value
            if not isinstance(key, dict):
                return None
            keys.append(key)
            spans.append((pos, end))
            pos = end
    except (IndexError, StopIteration, ValueError, RecursionError):
        return None
    tail = _TAIL.fullmatch(text, pos)
    if tail is None:
        return None
    if tail.group(1) is not None:
        try:
            page = json.loads(tail.group(1))
        except ValueError:
            return None
        if not isinstance(page, dict):
            return None
    return KeyListAnswer(text, keys, spans, head.end(), pos)
