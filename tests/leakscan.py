"""Session-wide record of key values and of everywhere they must not appear (issue 7, leak scan).

`LEAKS` (one per test session, installed by `tests/conftest.py`) collects:

- **values**: every value the in-process key service issued (`KeyStore.create` and `rotate`
  are wrapped), values from keyring files found under the session's temp folder (so servers
  run as subprocesses count too), and values a test adds with `LEAKS.add_values(...)`;
- **answers**: the body of every HTTP answer sent by an in-process tornado server (the
  Jupyter server and the key service) and every websocket message it sends, except the
  answers of create (`POST .../api-keys`) and rotate (`POST .../rotate`), the one place a
  value belongs;
- **logs**: every log record emitted in the test process (root logger and the non-propagating
  loggers, e.g. `ServerApp`), formatted with its arguments and traceback;
- **texts** a test hands over with `LEAKS.record(source, text)` (widget states, kernel output);
- **files**: every file under `tmp_path_factory.getbasetemp()` at the end (SQLite databases
  and their WAL/SHM, notebooks and checkpoints, server logs, configs), plus paths a test adds
  with `LEAKS.add_path(...)`.

The one place allowed to hold values is the keyring: files named `keyring.json` in a folder
`keyring/` or `qbraid_keys/` (where `$QBRAID_KEYS_KEYRING_FILE` points in tests, and the
default `<jupyter data dir>/qbraid_keys/keyring.json`) or holding our file keyring's format
(`{"version", "entries"}`, e.g. `FileKeyring(tmp_path / "server" / "keyring.json")`), any file
a test named in `QBRAID_KEYS_KEYRING_FILE`, and their atomic-write temporaries
`.keyring-*.tmp`. Those are not scanned (their values are harvested, see below). The one
exception beside them is qBraid Lab's own store, `.qbraid/qbraidrc`, which holds a value only
after the user asked for "Use for qBraid Lab" (`tests/test_qbraidlab.py` checks that nothing
writes it otherwise); it is not scanned either.

To keep memory small, texts are not kept: only their runs of 20+ hex characters are. A value
is found when any 20 consecutive characters of its 64 hex (more than the 8 its hint shows)
appear in such a run, so a value cut short, or quoted without its `qbr_` prefix, is found too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

WINDOW = 20
_HEX_RUN = re.compile(rb"[0-9a-f]{%d,}" % WINDOW)
_VALUE = re.compile(r"qbr_([0-9a-f]{64})")
_LABEL_HEX = re.compile(rf"[0-9a-fA-F]{{{WINDOW},}}")
MAX_FILE_BYTES = 64 * 1024 * 1024
KEYRING_DIRS = ("keyring", "qbraid_keys")


@dataclass(frozen=True)
class Hit:
    """One place a value was found: where, and the value's hint (never the value)."""

    where: str
    hint: str

    def __str__(self) -> str:
        return f"{self.hint} in {self.where}"


def _hint(secret: str) -> str:
    return f"qbr_{secret[:4]}…{secret[-4:]}"


class LeakRegistry:
    """Values issued during the session, and hex runs seen where values must never be."""

    def __init__(self) -> None:
        self.values: set[str] = set()  # the 64 hex after `qbr_`
        self.runs: dict[bytes, str] = {}  # hex run -> first place it was seen
        self.paths: set[Path] = set()
        self.keyring_files: set[Path] = set()
        self.counts = {"answers": 0, "logs": 0, "texts": 0, "files": 0}

    # -- what tests and hooks call -----------------------------------------------------

    def add_values(self, *values: str) -> None:
        """Register key values (e.g. from a service running in a subprocess)."""
        for value in values:
            match = _VALUE.fullmatch(value or "")
            if match:
                self.values.add(match.group(1))

    def record(self, source: str, text: str | bytes, kind: str = "texts") -> None:
        """Remember the hex runs of a text that must never hold a value."""
        data = text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        runs = _HEX_RUN.findall(data.lower())
        if runs:
            source = _LABEL_HEX.sub("<hex>", source)  # a report must not quote a value either
            for run in runs:
                self.runs.setdefault(run, source)

    def add_path(self, path: str | os.PathLike[str]) -> None:
        """Scan this file or folder at the end too (for places outside the temp folder)."""
        self.paths.add(Path(path))

    def allow_keyring_file(self, path: str | os.PathLike[str]) -> None:
        """The keyring file of a test: the one place values may be (not scanned)."""
        self.keyring_files.add(Path(path).absolute())

    # -- scanning ----------------------------------------------------------------------

    def is_keyring(self, path: Path) -> bool:
        """Whether a file is a keyring file (or its temporary), which may hold values."""
        absolute = path.absolute()
        if absolute in self.keyring_files:
            return True
        if any(absolute.parent == f.parent for f in self.keyring_files) and (
            path.name.startswith(".keyring-") and path.name.endswith(".tmp")
        ):
            return True
        if path.name.startswith(".keyring-") and path.name.endswith(".tmp"):
            return path.parent.name in KEYRING_DIRS or _is_keyring_json(path)
        return path.name == "keyring.json" and (
            path.parent.name in KEYRING_DIRS or _is_keyring_json(path)
        )

    @staticmethod
    def is_qbraidrc(path: Path) -> bool:
        """Whether a file is qBraid Lab's qbraidrc (the user's opt-in "Use for qBraid Lab")."""
        return path.name == "qbraidrc" and path.parent.name == ".qbraid"

    def files(self, roots: Iterable[Path]) -> list[Path]:
        """Every regular file under the roots, keyring files and qbraidrc left out."""
        found: list[Path] = []
        for root in roots:
            if root.is_file():
                found.append(root)
                continue
            for folder, dirs, names in os.walk(root, followlinks=False):
                dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
                found += [Path(folder, n) for n in names]
        return [
            p
            for p in found
            if p.is_file()
            and not p.is_symlink()
            and not self.is_keyring(p)
            and not self.is_qbraidrc(p)
        ]

    def harvest_keyrings(self, roots: Iterable[Path]) -> None:
        """Add the values held in keyring files under the roots (servers run as subprocesses)."""
        for root in roots:
            if root.is_dir():
                for path in root.rglob("keyring.json"):
                    if self.is_keyring(path):
                        with contextlib.suppress(OSError, ValueError):
                            self.add_values(*_strings(json.loads(path.read_text("utf-8"))))

    def scan_files(self, roots: Iterable[Path]) -> list[Hit]:
        """Hits in the files under the roots (read as bytes, lower-cased)."""
        index = self._index()
        hits: list[Hit] = []
        for path in self.files(roots):
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes().lower()
            except OSError:
                continue
            self.counts["files"] += 1
            for run in _HEX_RUN.findall(data):
                secret = self._match(run, index)
                if secret:
                    hits.append(Hit(str(path), _hint(secret)))
        return hits

    def scan_recorded(self) -> list[Hit]:
        """Hits in the answers, log records and texts recorded so far."""
        index = self._index()
        return [
            Hit(source, _hint(secret))
            for run, source in self.runs.items()
            if (secret := self._match(run, index))
        ]

    def _index(self) -> dict[bytes, str]:
        return {
            secret[i : i + WINDOW].encode(): secret
            for secret in self.values
            for i in range(len(secret) - WINDOW + 1)
        }

    @staticmethod
    def _match(run: bytes, index: dict[bytes, str]) -> str | None:
        for i in range(len(run) - WINDOW + 1):
            secret = index.get(run[i : i + WINDOW])
            if secret:
                return secret
        return None


def _is_keyring_json(path: Path) -> bool:
    """Whether a file is in the format of our file keyring (`{"version", "entries"}`)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(data) == {"version", "entries"}


def _strings(node: object) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


class RecordingHandler(logging.Handler):
    """Feeds every log record (message, arguments and traceback) to a registry."""

    def __init__(self, registry: LeakRegistry) -> None:
        super().__init__(logging.NOTSET)
        self.registry = registry
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # never break the code under test
            self.registry.record(f"log record of {record.name}", self.format(record), "logs")


def is_one_time_answer(method: str, path: str) -> bool:
    """Create and rotate answers: the one place a value is sent (not scanned)."""
    path = path.rstrip("/")
    return method == "POST" and (path.endswith("/api-keys") or path.endswith("/rotate"))


def install(registry: LeakRegistry) -> None:
    """Wrap the key store and tornado's writes; add the log handler (once per session)."""
    import tornado.web
    import tornado.websocket

    from qbraid_keys_ext.service.store import KeyStore

    if getattr(KeyStore, "_leak_registry", None) is registry:
        return
    KeyStore._leak_registry = registry  # type: ignore[attr-defined]

    for name in ("create", "rotate"):
        original = getattr(KeyStore, name)

        def issued(self, *args, _original=original, **kwargs):
            answer = _original(self, *args, **kwargs)
            registry.add_values(answer.get("value", ""))
            return answer

        setattr(KeyStore, name, issued)

    try:
        from qbraid_keys_ext.service.pgstore import PgAccountKeys
    except ImportError:  # psycopg not installed: no PostgreSQL store to watch
        PgAccountKeys = None
    for name in ("create", "rotate") if PgAccountKeys is not None else ():
        original = getattr(PgAccountKeys, name)

        async def issued_async(self, *args, _original=original, **kwargs):
            answer = await _original(self, *args, **kwargs)
            registry.add_values(answer.get("value", ""))
            return answer

        setattr(PgAccountKeys, name, issued_async)

    flush = tornado.web.RequestHandler.flush

    def recording_flush(self, *args, **kwargs):
        try:
            request = self.request
            if self._write_buffer and not is_one_time_answer(request.method, request.path):
                body = b"".join(self._write_buffer)
                registry.record(f"answer to {request.method} {request.path}", body, "answers")
        except Exception:
            pass
        return flush(self, *args, **kwargs)

    tornado.web.RequestHandler.flush = recording_flush

    write_message = tornado.websocket.WebSocketHandler.write_message

    def recording_write_message(self, message, *args, **kwargs):
        try:
            text = json.dumps(message) if isinstance(message, dict) else message
            registry.record(f"websocket message on {self.request.path}", text, "answers")
        except Exception:
            pass
        return write_message(self, message, *args, **kwargs)

    tornado.websocket.WebSocketHandler.write_message = recording_write_message

    handler = RecordingHandler(registry)
    registry.handler = handler  # type: ignore[attr-defined]
    logging.getLogger().addHandler(handler)


def attach_to_isolated_loggers(registry: LeakRegistry) -> None:
    """Also listen to loggers that do not propagate to the root (traitlets apps' loggers)."""
    handler = getattr(registry, "handler", None)
    if handler is None:
        return
    for logger in list(logging.Logger.manager.loggerDict.values()):
        isolated = isinstance(logger, logging.Logger) and not logger.propagate
        if isolated and handler not in logger.handlers:
            logger.addHandler(handler)


LEAKS = LeakRegistry()
