"""The `%qbraid_key` line magic (Contract 3): use, list, current, clear, add, status, panel."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from . import keys

USAGE = """\
%qbraid_key use NAME    use key NAME in this kernel (sets QBRAID_API_KEY; value never shown)
%qbraid_key list [TEXT] the account's keys (newest 100, or those whose name or hint has TEXT)
%qbraid_key current     which key this kernel uses
%qbraid_key clear       remove the key from this kernel
%qbraid_key add NAME    store the value of a key created elsewhere (typed without echo)
%qbraid_key status      upstream, keyring backend, Jupyter server
%qbraid_key panel       show the keys panel"""


def _name_arg(command: str, rest: str) -> str:
    if not rest.strip():
        raise keys.UnknownKey(f"Name the key, e.g. `%qbraid_key {command} ci`.")
    return rest


@magics_class
class QbraidKeyMagics(Magics):
    """`%qbraid_key COMMAND [NAME]`."""

    @line_magic
    def qbraid_key(self, line: str) -> None:
        """Manage and use qBraid API keys in this kernel; `%qbraid_key help` lists commands."""
        command, _, rest = line.strip().partition(" ")
        command = command.lower()
        keys.STATE.redactor.install_in(self.shell)
        if command in ("", "help", "-h", "--help"):
            print(USAGE)
        elif command == "use":
            print(keys.use_key(_name_arg(command, rest)))
        elif command == "add":
            print(keys.add_key(_name_arg(command, rest)))
        elif command in ("list", "ls"):
            print(keys.list_keys(rest))
        elif command == "current":
            print(keys.current_key())
        elif command == "clear":
            print(keys.clear_key())
        elif command == "status":
            print(keys.status_text())
        elif command == "panel":
            self._panel()
        else:
            raise keys.QbraidKeyError(
                400,
                "VALIDATION_ERROR",
                f"Unknown command {command!r}; one of: use, list, current, clear, add, status, "
                "panel (`%qbraid_key help`).",
            )

    def _panel(self) -> None:
        try:
            from ..widgets import KeysPanel
        except ImportError as err:
            raise keys.QbraidKeyError(
                501, "NOT_AVAILABLE", f"The keys panel needs ipywidgets ({err})."
            ) from None
        from IPython.display import display

        display(KeysPanel())


def load_ipython_extension(ipython: Any) -> None:
    """Register `%qbraid_key` and hide used key values in this kernel's output."""
    keys.STATE.redactor.install_in(ipython)
    ipython.register_magics(QbraidKeyMagics)
