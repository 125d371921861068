"""Tell this kernel's server which key it uses, and ask which kernels use a key.

The server keeps the record (`qbraid_keys_ext.kernel_keys`): `PUT qbraid-keys/kernels/{id}`
when this kernel starts using a key, `DELETE` when it stops; both appear on the event bus as
`used` and `cleared`. `GET qbraid-keys/kernels` lists which running kernels use which key,
with their notebooks, for the rotate and revoke confirmations.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..upstream import KeyApiError
from .server import call_server


def this_kernel_id() -> str | None:
    """The id of the kernel this code runs in (from its connection file), or None."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:
        return None
    found = re.fullmatch(r"kernel-(.+)\.json", name)
    return found.group(1) if found else None


def mark(key: Mapping[str, Any]) -> bool:
    """Tell the server this kernel now uses `key`; False where that was not possible."""
    kernel_id = this_kernel_id()
    if not kernel_id:
        return False
    try:
        call_server("PUT", f"kernels/{kernel_id}", {"keyId": key.get("id")})
    except KeyApiError:
        return False
    return True


def unmark() -> None:
    """Tell the server this kernel uses no key."""
    kernel_id = this_kernel_id()
    if kernel_id:
        with contextlib.suppress(KeyApiError):
            call_server("DELETE", f"kernels/{kernel_id}")


def kernels_using(key_id: str) -> list[str]:
    """Labels of this server's running kernels that use the key `key_id`."""
    me = this_kernel_id()
    found = []
    for holder in call_server("GET", "kernels"):
        if holder.get("keyId") == key_id:
            where = holder.get("path") or f"kernel {str(holder.get('kernelId'))[:8]}"
            found.append(where + (" (this notebook)" if holder.get("kernelId") == me else ""))
    return found
