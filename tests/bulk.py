"""Many keys at once, for tests and benchmarks that need a full account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qbraid_keys_ext.service import KeyStore


def create_many(store: KeyStore, names: Iterable[str]) -> list[dict[str, Any]]:
    """Keys made by the store's own `create` (same digest, hint, validation), all in one
    transaction, so that thousands take a second; their key objects, values included."""
    store._db.execute("BEGIN")  # each create's own transaction joins this one
    try:
        made = [store.create({"name": name}) for name in names]
    except BaseException:
        store._db.execute("ROLLBACK")
        raise
    store._db.execute("COMMIT")
    return made
