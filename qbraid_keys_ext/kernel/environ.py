"""Put a key into this kernel's environment so that qbraid-core authenticates with it.

qbraid-core (0.6) picks its credential in this order: an access token (qbraidrc
`access-token`, then `QBRAID_ACCESS_TOKEN`), then qbraidrc `api-key`, then `QBRAID_API_KEY`;
its URL from `QBRAID_API_URL`, then qbraidrc `url`. So setting `QBRAID_API_KEY` alone loses to
a qbraidrc that holds another key or a token. For this process only, we therefore:

- set `QBRAID_API_KEY` (and `QBRAID_API_URL` for a non-default upstream), drop
  `QBRAID_ACCESS_TOKEN`;
- point qbraid-core at a private copy of qbraidrc without `api-key`, `access-token` and `url`
  (other settings such as `email` or `cloud` are kept): a 0600 file in a 0700 temporary folder
  that never holds a key value. `QBRAID_CONFIG_FILE` names it for a later import of
  qbraid-core and for child processes (`!qbraid ...`); for an already imported qbraid-core the
  default path argument of `load_config`/`save_config` is switched to it, which every module
  that imported those functions by name sees.

`~/.qbraid/qbraidrc` is never written, other kernels are untouched, and `restore` undoes all
of it.
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import importlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

KEY_VAR = "QBRAID_API_KEY"
URL_VAR = "QBRAID_API_URL"
TOKEN_VAR = "QBRAID_ACCESS_TOKEN"
CONFIG_VAR = "QBRAID_CONFIG_FILE"
MANAGED = (KEY_VAR, URL_VAR, TOKEN_VAR, CONFIG_VAR)
DROPPED_OPTIONS = ("api-key", "access-token", "url", "refresh-token")


def user_qbraidrc(environ: dict[str, str | None]) -> Path:
    """The qbraidrc qbraid-core would read without us."""
    return Path(environ.get(CONFIG_VAR) or Path.home() / ".qbraid" / "qbraidrc")


class KernelCredentials:
    """The environment changes made for `%qbraid_key use`, and how to undo them."""

    def __init__(self) -> None:
        self._saved_env: dict[str, str | None] | None = None
        self._saved_defaults: dict[str, tuple] = {}
        self._saved_user_path: str | None = None
        self._folder: Path | None = None
        atexit.register(self._remove_folder)

    @property
    def active(self) -> bool:
        """Whether a key was put in place (and not yet cleared)."""
        return self._saved_env is not None

    def apply(self, value: str, api_url: str | None) -> None:
        """Make `value` the key of this kernel; `api_url` is `{upstream}/api/v1` or None."""
        if self._saved_env is None:
            self._saved_env = {name: os.environ.get(name) for name in MANAGED}
        config = _import_qbraid_core_config()  # before QBRAID_CONFIG_FILE changes
        rc = self._private_rc(user_qbraidrc(self._saved_env))
        os.environ[KEY_VAR] = value
        if api_url:
            os.environ[URL_VAR] = api_url
        else:
            os.environ.pop(URL_VAR, None)
        os.environ.pop(TOKEN_VAR, None)
        os.environ[CONFIG_VAR] = str(rc)
        if config is not None:
            self._point_qbraid_core(config, str(rc))

    def restore(self) -> None:
        """Put the environment and qbraid-core back as they were before the first `apply`."""
        if self._saved_env is None:
            return
        for name, old in self._saved_env.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        config = sys.modules.get("qbraid_core.config")
        if config is not None:
            for fn_name, defaults in self._saved_defaults.items():
                getattr(config, fn_name).__defaults__ = defaults
            if self._saved_user_path is not None:
                config.USER_CONFIG_PATH = self._saved_user_path
        self._saved_defaults = {}
        self._saved_user_path = None
        self._saved_env = None
        self._remove_folder()

    def _private_rc(self, source: Path) -> Path:
        """A copy of the user's qbraidrc without credentials or URL, private to this process."""
        parser = configparser.RawConfigParser()
        with contextlib.suppress(OSError, configparser.Error, UnicodeError):
            parser.read(source, encoding="utf-8")
        if not parser.has_section("default"):
            parser.add_section("default")
        for section in parser.sections():
            for option in DROPPED_OPTIONS:
                parser.remove_option(section, option)
        if self._folder is None or not self._folder.is_dir():
            self._folder = Path(tempfile.mkdtemp(prefix="qbraid-keys-rc-"))  # mode 0700
        path = self._folder / "qbraidrc"
        text = io.StringIO()
        parser.write(text)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text.getvalue())
        return path

    def _point_qbraid_core(self, config: Any, rc: str) -> None:
        """Make qbraid-core read `rc` as its qbraidrc from now on."""
        for fn_name in ("load_config", "save_config"):
            fn = getattr(config, fn_name, None)
            if fn is None or not fn.__defaults__:
                continue
            self._saved_defaults.setdefault(fn_name, fn.__defaults__)
            fn.__defaults__ = (rc, *fn.__defaults__[1:])
        if hasattr(config, "USER_CONFIG_PATH"):
            if self._saved_user_path is None:
                self._saved_user_path = config.USER_CONFIG_PATH
            config.USER_CONFIG_PATH = rc

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def _import_qbraid_core_config() -> Any:
    """`qbraid_core.config` if qbraid-core is installed (imported now if needed), else None."""
    if "qbraid_core.config" not in sys.modules:
        try:
            if importlib.util.find_spec("qbraid_core") is None:
                return None
            importlib.import_module("qbraid_core.config")
        except Exception:  # a broken optional dependency must not break `use`
            return None
    return sys.modules["qbraid_core.config"]
