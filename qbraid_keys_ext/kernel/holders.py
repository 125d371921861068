"""Which kernels of this Jupyter server use which key (by id, name and hint; never the value).

A kernel that uses a key writes a small marker `qbraid-keys-kernel-<kernel id>.json` in the
Jupyter runtime directory (next to its connection file); `clear` removes it. Anyone can then
ask which of the server's running kernels (`api/sessions`, `api/kernels`) use a key, e.g. the
panel's rotate and revoke confirmations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

from .server import run_sync, server_client

PREFIX = "qbraid-keys-kernel-"


def this_kernel_id() -> str | None:
    """The id of the kernel this code runs in (from its connection file), or None."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:
        return None
    found = re.fullmatch(r"kernel-(.+)\.json", name)
    return found.group(1) if found else None


def marker(kernel_id: str) -> Path:
    """The marker file of a kernel."""
    return Path(jupyter_runtime_dir()) / f"{PREFIX}{kernel_id}.json"


def mark(key: Mapping[str, Any]) -> None:
    """Record that this kernel now uses `key` (its id, name and hint only)."""
    kernel_id = this_kernel_id()
    if not kernel_id:
        return
    path = marker(kernel_id)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {k: key.get(k) for k in ("id", "name", "hint")}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)


def unmark() -> None:
    """Record that this kernel uses no key."""
    kernel_id = this_kernel_id()
    if kernel_id:
        with contextlib.suppress(OSError):
            marker(kernel_id).unlink()


def key_of(kernel_id: str) -> dict[str, Any] | None:
    """The key (id, name, hint) a kernel uses, or None."""
    try:
        record = json.loads(marker(kernel_id).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def running_kernels() -> list[dict[str, str]]:
    """This server's running kernels as `{"id", "label"}`, notebooks named where known."""
    client = server_client("api")

    async def fetch() -> tuple[Any, Any]:
        return await asyncio.gather(
            client.request("GET", "sessions", envelope=False),
            client.request("GET", "kernels", envelope=False),
        )

    sessions, kernels = run_sync(fetch)
    labels: dict[str, str] = {}
    for session in sessions if isinstance(sessions, list) else []:
        kernel = session.get("kernel") or {}
        if kernel.get("id"):
            where = session.get("path") or session.get("name") or "a session"
            labels.setdefault(kernel["id"], f"{where} ({kernel.get('name', 'kernel')})")
    for kernel in kernels if isinstance(kernels, list) else []:
        if kernel.get("id"):
            labels.setdefault(kernel["id"], f"kernel {kernel['id'][:8]} ({kernel.get('name')})")
    return [{"id": kid, "label": label} for kid, label in labels.items()]


def kernels_using(key_id: str) -> list[str]:
    """Labels of this server's running kernels that use the key `key_id`."""
    me = this_kernel_id()
    found = []
    for kernel in running_kernels():
        record = key_of(kernel["id"])
        if record and record.get("id") == key_id:
            found.append(kernel["label"] + (" (this notebook)" if kernel["id"] == me else ""))
    return found
