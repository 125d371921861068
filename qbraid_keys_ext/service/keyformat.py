"""The key value format: ``qbr_`` + 56 random hex + 8 hex CRC32 checksum."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

PREFIX = "qbr_"
KEY_PATTERN = re.compile(r"qbr_[0-9a-f]{64}")
_RANDOM_HEX = 56


def _checksum(body: str) -> str:
    """Return the CRC32 of ``body`` (ASCII) as 8 lowercase hex characters."""
    return f"{zlib.crc32(body.encode('ascii')) & 0xFFFFFFFF:08x}"


def generate() -> str:
    """Return a new random key value with a valid checksum."""
    body = secrets.token_hex(_RANDOM_HEX // 2)
    return PREFIX + body + _checksum(body)


def is_well_formed(s: object) -> bool:
    """Tell whether ``s`` has the shape of a key value (checksum not checked)."""
    return isinstance(s, str) and KEY_PATTERN.fullmatch(s) is not None


def has_valid_checksum(s: object) -> bool:
    """Tell whether ``s`` is well formed and its last 8 hex match the CRC32 of the rest."""
    if not is_well_formed(s):
        return False
    body = s[len(PREFIX) : len(PREFIX) + _RANDOM_HEX]  # type: ignore[index]
    return hmac.compare_digest(s[-8:], _checksum(body))  # type: ignore[index]


def problem(value: object) -> str | None:
    """Why ``value`` cannot be a key value, as a sentence for the person who pasted it; or None."""
    if not is_well_formed(value):
        return (
            "That is not a qBraid API key value (expected qbr_ followed by 64 lowercase hex "
            "characters); nothing was stored."
        )
    if not has_valid_checksum(value):
        return "That value has a typo: its checksum does not match; nothing was stored."
    return None


def hint(value: str) -> str:
    """Return the displayable hint of a value: prefix, first 4 hex, an ellipsis, last 4 hex."""
    return f"{PREFIX}{value[len(PREFIX) : len(PREFIX) + 4]}…{value[-4:]}"


def digest(value: str, secret: bytes | None = None) -> str:
    """Return the stored digest of a value: SHA-256, or HMAC-SHA256 when a secret is given."""
    data = value.encode("utf-8")
    if secret:
        return hmac.new(secret, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def find_valid_keys(text: str) -> list[str]:
    """Return every substring of ``text`` that is a key value with a valid checksum."""
    return [m.group(0) for m in KEY_PATTERN.finditer(text) if has_valid_checksum(m.group(0))]
