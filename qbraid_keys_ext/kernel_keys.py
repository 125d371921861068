"""Which key each kernel of this server uses, and the state file through which it follows it.

A kernel that runs `%qbraid_key use NAME` tells its server (`PUT qbraid-keys/kernels/{id}`);
the server records the key's id, name, hint and status and writes them to the kernel's state
file `qbraid-keys-kernel-<kernel id>.json` in the Jupyter runtime directory. When the key is
rotated, renamed, deactivated or revoked through this server, the server rewrites the state
file of every kernel that uses it, before answering. The kernel checks its file (one `stat`)
before each qBraid request, so its next request already uses the new value (read from the
keyring by id) or fails with one clear line. The file never holds a value.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

PREFIX = "qbraid-keys-kernel-"
FIELDS = ("id", "name", "hint", "status")


def state_file(kernel_id: str, runtime_dir: str | None = None) -> Path:
    """The state file of a kernel."""
    return Path(runtime_dir or jupyter_runtime_dir()) / f"{PREFIX}{kernel_id}.json"


def read_state(path: Path) -> dict[str, Any] | None:
    """The key record in a state file, or None."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class KernelKeys:
    """The key (id, name, hint, status) each kernel uses; never a value."""

    def __init__(self, runtime_dir: str | None = None) -> None:
        self._runtime_dir = runtime_dir
        self._by_kernel: dict[str, dict[str, Any]] = {}

    def use(self, kernel_id: str, key: Mapping[str, Any]) -> dict[str, Any]:
        """Record that `kernel_id` now uses `key`; returns the record."""
        record = {field: key.get(field) for field in FIELDS}
        self._by_kernel[kernel_id] = record
        self._write(kernel_id, record)
        return record

    def clear(self, kernel_id: str) -> dict[str, Any] | None:
        """Record that `kernel_id` uses no key; returns the record it had."""
        record = self._by_kernel.pop(kernel_id, None)
        with contextlib.suppress(OSError):
            state_file(kernel_id, self._runtime_dir).unlink()
        return record

    def follow(self, key: Mapping[str, Any], status: str | None = None) -> list[str]:
        """Tell the kernels using `key` about its new name, hint or status; their ids."""
        changed = []
        for kernel_id, record in self._by_kernel.items():
            if record["id"] == key.get("id"):
                for field in ("name", "hint", "status"):
                    if key.get(field):
                        record[field] = key[field]
                if status:
                    record["status"] = status
                record.pop("rotating", None)
                self._write(kernel_id, record)
                changed.append(kernel_id)
        return changed

    def rotating(self, key_id: str, now: bool) -> None:
        """Tell the kernels using a key that it is being rotated: they hold their requests
        until the new value is stored (`follow`) or the rotation failed (`now=False`)."""
        for kernel_id, record in self._by_kernel.items():
            if record["id"] == key_id and bool(record.get("rotating")) != now:
                if now:
                    record["rotating"] = True
                else:
                    record.pop("rotating", None)
                self._write(kernel_id, record)

    def items(self, alive: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """(kernel id, record) of every kernel in `alive` that uses a key; forgets the rest."""
        for kernel_id in [k for k in self._by_kernel if k not in alive]:
            self.clear(kernel_id)
        return list(self._by_kernel.items())

    def close(self) -> None:
        """Remove every state file (the server stops)."""
        for kernel_id in list(self._by_kernel):
            self.clear(kernel_id)

    def _write(self, kernel_id: str, record: Mapping[str, Any]) -> None:
        path = state_file(kernel_id, self._runtime_dir)
        part = path.with_name(path.name + ".part")
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dict(record), out)
            os.replace(part, path)
