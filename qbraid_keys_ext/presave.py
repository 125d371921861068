"""Server-side pre-save hook: no key value reaches a saved notebook's outputs."""

from __future__ import annotations

import logging
from typing import Any

from .service.keyformat import find_valid_keys

PLACEHOLDER = "[qbraid key hidden]"

log = logging.getLogger(__name__)


def redact_value(obj: Any) -> tuple[Any, int]:
    """`obj` (JSON-like) with every valid-checksum key value replaced; and how many were."""
    if isinstance(obj, str):
        found = find_valid_keys(obj)
        for value in set(found):
            obj = obj.replace(value, PLACEHOLDER)
        return obj, len(found)
    if isinstance(obj, dict):
        total = 0
        for key in list(obj):
            new_key, n_key = redact_value(key)
            new_value, n_value = redact_value(obj[key])
            if n_key:
                del obj[key]
            if n_key or n_value:
                obj[new_key] = new_value
            total += n_key + n_value
        return obj, total
    if isinstance(obj, list):
        total = 0
        for i, item in enumerate(obj):
            obj[i], n = redact_value(item)
            total += n
        return obj, total
    return obj, 0


def redact_notebook(notebook: dict[str, Any]) -> int:
    """Remove key values from the outputs of a notebook (in place); returns how many."""
    total = 0
    for cell in notebook.get("cells") or []:
        if isinstance(cell, dict) and isinstance(cell.get("outputs"), list):
            _, n = redact_value(cell["outputs"])
            total += n
    return total


def _source_text(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source)


def pre_save_hook(model: dict[str, Any], path: str, contents_manager: Any = None, **_: Any) -> None:
    """Before a notebook is written, hide key values in its outputs and say so in the log."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    count = redact_notebook(model["content"])
    logger = getattr(contents_manager, "log", None) or log
    in_source = sum(
        len(find_valid_keys(_source_text(cell))) for cell in model["content"].get("cells") or []
    )
    if in_source:
        logger.warning(
            "qBraid keys: %s has %d API key value(s) typed into its cells; they are saved as "
            "written. Use `%%qbraid_key use NAME` instead of pasting values.",
            path,
            in_source,
        )
    if count:
        logger.warning(
            "qBraid keys: removed %d API key value(s) from the outputs of %s before saving it.",
            count,
            path,
        )


def register(contents_manager: Any) -> None:
    """Add the hook; it runs after a `pre_save_hook` the user configured (chained, not replaced)."""
    if pre_save_hook not in getattr(contents_manager, "_pre_save_hooks", []):
        contents_manager.register_pre_save_hook(pre_save_hook)
