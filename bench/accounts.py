"""Accounts filled with keys for the benchmarks, written straight into a store file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from qbraid_keys_ext.service import KeyStore


def fill(db: str | os.PathLike[str], count: int, prefix: str = "key") -> list[dict]:
    """Create `count` keys named `{prefix}-{i}` in the SQLite store `db`; their key objects.

    Each key is made by the store's own `create` (same digest, hint, validation), all in one
    transaction so that 100,000 keys take seconds, not minutes.
    """
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    store = KeyStore(db)
    created: list[dict] = []
    try:
        store._db.execute("BEGIN")  # one transaction around many `create` calls
        store._transaction = contextlib.nullcontext  # type: ignore[method-assign]
        try:
            for i in range(count):
                created.append(store.create({"name": f"{prefix}-{i:06d}"}))
        except BaseException:
            store._db.execute("ROLLBACK")
            raise
        store._db.execute("COMMIT")
    finally:
        store.close()
    return created


def values_file(path: Path, keys: list[dict], sample: int = 100) -> Path:
    """Write `sample` key values spread evenly over `keys`, one a line; the file's path."""
    step = max(1, len(keys) // sample)
    path.write_text("\n".join(k["value"] for k in keys[::step][:sample]) + "\n")
    path.chmod(0o600)
    return path
