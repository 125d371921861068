"""qBraid API key management in JupyterLab: server proxy, embedded key service, UI and magic."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import QbraidKeys

    return [{"module": "qbraid_keys_ext", "app": QbraidKeys}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "qbraid-keys-ext"}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext qbraid_keys_ext`: register the `%qbraid_key` magic."""
    from .kernel.magic import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name == "KeysPanel":
        from .widgets import KeysPanel

        return KeysPanel
    raise AttributeError(name)
