"""Accounts filled with keys for the benchmarks, written straight into a store file."""

from __future__ import annotations

import os
from pathlib import Path

from qbraid_keys_ext.service import KeyStore
from tests.bulk import create_many  # the tests' helper (repo root)


def fill(db: str | os.PathLike[str], count: int, prefix: str = "key") -> list[dict]:
    """Create `count` keys named `{prefix}-{i}` in the SQLite store `db`; their key objects.

    Each key is made by the store's own `create` (same digest, hint, validation), all in one
    transaction so that 100,000 keys take seconds, not minutes.
    """
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    store = KeyStore(db)
    try:
        return create_many(store, (f"{prefix}-{i:06d}" for i in range(count)))
    finally:
        store.close()


def values_file(path: Path, keys: list[dict], sample: int = 100) -> Path:
    """Write `sample` key values spread evenly over `keys`, one a line; the file's path."""
    step = max(1, len(keys) // sample)
    path.write_text("\n".join(k["value"] for k in keys[::step][:sample]) + "\n")
    path.chmod(0o600)
    return path
