"""Key values in the keyring (service `qbraid-keys`, username `<upstream host>/<key id>`).

Which keyring holds them, chosen the same way by the server and by every kernel:

1. `QBRAID_KEYS_KEYRING`: `file` (our file below), `system` (the best system keyring, or a
   clear error) or a dotted keyring class name;
2. keyring's own explicit configuration (`PYTHON_KEYRING_BACKEND`, `keyringrc.cfg`);
3. the best *system* keyring that works here: Secret Service, macOS Keychain, Windows
   Credential Locker, KWallet;
4. otherwise `FileKeyring`, our own file: one JSON file, mode 0600 in a 0700 folder, written
   atomically. It is not encrypted (`secure: false`): it protects values from other users,
   not from programs running as this user. keyrings.alt's plaintext file is never chosen
   unless it is configured explicitly.

Every operation is bounded in time (`TIMEOUT`): a locked, missing or hanging keyring gives a
`VaultError` with a sentence, never a hang and never an unlock prompt.

Beside the values, one more entry per upstream is the *name index* (service
`qbraid-keys-index`, username `<upstream host>`): JSON `{"version": 1, "keys": {"<key id>":
{"name", "hint", "at"}}}`, names, ids and hints only, never a value. It lets code with no Jupyter
server and no account token (a notebook run by nbconvert or papermill, the `qbraid-keys`
command) find a stored value by key name. Storing a value with its name records it, deleting a
value drops it, and `reindex` brings it in line with a key listing (renames, older entries).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.backend
import keyring.core
import keyring.errors
from keyring.compat import properties

from .service import keyformat

T = TypeVar("T")

SERVICE = "qbraid-keys"
INDEX_SERVICE = "qbraid-keys-index"
EMBEDDED = "embedded"
"""The keyring host of the embedded key service's keys (its port changes at every start)."""
BACKEND_VAR = "QBRAID_KEYS_KEYRING"
FILE_VAR = "QBRAID_KEYS_KEYRING_FILE"
TIMEOUT = 4.0
"""Seconds any keyring operation may take (the server's handlers wait 5)."""

SYSTEM_BACKENDS = (
    "keyring.backends.SecretService.",
    "keyring.backends.libsecret.",
    "keyring.backends.kwallet.",
    "keyring.backends.macOS.",
    "keyring.backends.Windows.",
)
"""keyring's backends for the operating system's own keyring; only these are chosen unasked."""


class VaultError(Exception):
    """The keyring could not be used; the message says why, never a value."""


def keyring_file() -> Path:
    """Where `FileKeyring` keeps values: `$QBRAID_KEYS_KEYRING_FILE`, else the Jupyter data dir."""
    override = os.environ.get(FILE_VAR)
    if override:
        return Path(override).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "qbraid_keys" / "keyring.json"


@contextlib.contextmanager
def _file_lock(folder: Path, name: str = ".keyring.lock"):
    """Serialise read-modify-write cycles of the server and kernels (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # Windows always has a system keyring; no lock needed there
        yield
        return
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class FileKeyring(keyring.backend.KeyringBackend):
    """qBraid keys file: a JSON file readable only by this user (mode 0600 in a 0700 folder)."""

    name = "qBraid keys file"

    @properties.classproperty
    def priority(cls) -> float:
        """Below every system keyring (>= 1); chosen by `Vault` only where none works."""
        return 0.9

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__()
        self._path = Path(path) if path else None
        self._seen: tuple[tuple[int, int, int], dict[str, dict[str, str]]] | None = None

    @property
    def path(self) -> Path:
        """The file (resolved on each use, so the environment override is honoured)."""
        return self._path or keyring_file()

    def _folder(self) -> Path:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if sys.platform != "win32" and folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
        return folder

    def _read(self) -> dict[str, dict[str, str]]:
        path = self.path
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise keyring.errors.KeyringError(
                f"The qBraid keys file {path} cannot be opened ({err.strerror})."
            ) from None
        with os.fdopen(fd, "rb") as handle:
            if sys.platform != "win32" and os.fstat(handle.fileno()).st_mode & 0o077:
                os.fchmod(handle.fileno(), 0o600)
            raw = handle.read()
        try:
            data = json.loads(raw or b"{}")
            entries = data.get("entries", {}) if isinstance(data, dict) else None
            if not isinstance(entries, dict):
                raise ValueError
        except ValueError:
            raise keyring.errors.KeyringError(
                f"The qBraid keys file {path} is damaged (not the expected JSON); move it "
                "away and store the keys again (rotate them, or `%qbraid_key add`)."
            ) from None
        return entries

    def _write(self, entries: dict[str, dict[str, str]]) -> None:
        path = self.path
        folder = path.parent
        fd, tmp = tempfile.mkstemp(prefix=".keyring-", suffix=".tmp", dir=folder)  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": 1, "entries": entries}, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _update(self, change: Callable[[dict[str, dict[str, str]]], bool]) -> None:
        with _file_lock(self._folder()):
            entries = self._read()
            if change(entries):
                self._write(entries)

    def get_password(self, service: str, username: str) -> str | None:
        """The stored value, or None."""
        return self._read().get(service, {}).get(username)

    def get_many(self, service: str, usernames: Iterable[str]) -> dict[str, str]:
        """The stored values of several usernames, with one read of the file."""
        entries = self._read().get(service, {})
        return {name: entries[name] for name in usernames if name in entries}

    def snapshot(self) -> dict[str, dict[str, str]]:
        """Every entry, read-only: parsed again only when the file changed (one `stat`).

        Every write replaces the file (a new inode), so (inode, mtime, size) tells a change.
        For the list's `stored` flags and name index (`Vault.listing`); values are read with
        `get_password`, from the file itself.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        except OSError:
            return self._read()  # says why in its error
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._seen is None or self._seen[0] != stamp:
            self._seen = (stamp, self._read())
        return self._seen[1]

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store (or replace) a value."""

        def change(entries: dict[str, dict[str, str]]) -> bool:
            entries.setdefault(service, {})[username] = password
            return True

        self._update(change)

    def delete_password(self, service: str, username: str) -> None:
        """Remove a value; `PasswordDeleteError` when there is none."""
        found = []

        def change(entries: dict[str, dict[str, str]]) -> bool:
            found.append(entries.get(service, {}).pop(username, None) is not None)
            if found[0] and not entries[service]:
                del entries[service]
            return found[0]

        self._update(change)
        if not found[0]:
            raise keyring.errors.PasswordDeleteError("No such value.")


def _qualname(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _is_system(backend: Any) -> bool:
    return _qualname(backend).startswith(SYSTEM_BACKENDS)


def _available() -> list[keyring.backend.KeyringBackend]:
    """keyring's viable backends, looked up afresh (keyring caches the first answer)."""
    reset = getattr(keyring.backend.get_all_keyring, "reset", None)
    if reset is not None:
        with contextlib.suppress(KeyError, AttributeError):
            reset()
    return keyring.backend.get_all_keyring()


def _best_system() -> keyring.backend.KeyringBackend | None:
    viable = [b for b in _available() if _is_system(b) and b.priority >= 1]
    return max(viable, key=keyring.backend.by_priority, default=None)


def choose_backend() -> keyring.backend.KeyringBackend:
    """The keyring this Lab uses (see the module docstring for the order)."""
    wanted = os.environ.get(BACKEND_VAR, "").strip()
    try:
        if wanted.lower() == "file":
            return FileKeyring()
        if wanted.lower() == "system":
            best = _best_system()
            if best is None:
                raise VaultError(
                    f"{BACKEND_VAR}=system, but no system keyring works here (no Secret "
                    "Service, Keychain or Windows Credential Locker). Unset it to use the "
                    "qBraid keys file."
                )
            return best
        if wanted:
            return keyring.core.load_keyring(wanted)
        configured = keyring.core.load_env() or keyring.core.load_config()
    except VaultError:
        raise
    except Exception as err:
        raise VaultError(f"The configured keyring could not be loaded: {err}") from None
    return configured or _best_system() or FileKeyring()


def _bounded(
    what: str, fn: Callable[[], T], timeout: float | None = None, *, threaded: bool = True
) -> T:
    """Run a keyring call in a helper thread; a `VaultError` if it fails or takes too long.

    `threaded=False` runs it here: for our file backend, local file I/O that cannot prompt.
    """
    timeout = TIMEOUT if timeout is None else timeout
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as err:
            result["error"] = err

    if threaded:
        thread = threading.Thread(target=target, name="qbraid-keys-keyring", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise VaultError(
                f"The keyring did not answer within {timeout:g} seconds while trying to {what} "
                "(is it locked, or waiting for a password prompt?)."
            )
    else:
        target()
    if "error" in result:
        err = result["error"]
        if isinstance(err, VaultError | keyring.errors.PasswordDeleteError):
            raise err
        detail = str(err) or type(err).__name__
        raise VaultError(f"The keyring could not {what}: {detail}") from None
    return result["value"]


class Vault:
    """The key values this Lab holds for one upstream."""

    def __init__(
        self, namespace: str, backend: keyring.backend.KeyringBackend | None = None
    ) -> None:
        self.namespace = namespace
        self._backend = backend
        self._lock = threading.Lock()
        # Ids a system keyring was asked about and holds no value for (see `listing`).
        self._absent: set[str] = set()

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        """The keyring in use, chosen on first use."""
        with self._lock:
            if self._backend is None:
                self._backend = choose_backend()
            return self._backend

    @property
    def local(self) -> bool:
        """Whether the keyring is our file: quick local I/O that never blocks on a prompt."""
        return isinstance(self._backend, FileKeyring)

    def username(self, key_id: str) -> str:
        """The keyring username for a key of this upstream."""
        return f"{self.namespace}/{key_id}"

    def _ready(self) -> keyring.backend.KeyringBackend:
        """The backend, after checking it will not prompt (a locked Secret Service)."""
        backend = self.backend
        if _qualname(backend) == "keyring.backends.SecretService.Keyring":
            _check_secret_service(backend)
        return backend

    def store(self, key_id: str, value: str, name: str | None = None) -> None:
        """Keep a key value (replacing an older one); with `name`, record it in the name index."""
        username = self.username(key_id)

        def put() -> None:
            backend = self._ready()
            backend.set_password(SERVICE, username, value)
            self._absent.discard(key_id)
            if name is not None:
                record = {"name": name, "hint": keyformat.hint(value), "at": _now()}
                self._change_index(backend, lambda keys: _put(keys, key_id, record))

        _bounded("store the key", put)

    def fetch(self, key_id: str) -> str | None:
        """The stored value of a key, or None."""
        name = self.username(key_id)
        return _bounded("read the key", lambda: self._ready().get_password(SERVICE, name))

    def delete(self, key_id: str) -> None:
        """Forget a key value and its name (no error when none is stored)."""
        name = self.username(key_id)
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            _bounded("delete the key", lambda: self._ready().delete_password(SERVICE, name))
        _bounded(
            "update the key names",
            lambda: self._change_index(self._ready(), lambda keys: keys.pop(key_id, None)),
        )

    # -- the name index --------------------------------------------------------------------

    def _read_index(self, backend: keyring.backend.KeyringBackend) -> dict[str, dict[str, str]]:
        return _parse_index(backend.get_password(INDEX_SERVICE, self.namespace))

    def _change_index(
        self,
        backend: keyring.backend.KeyringBackend,
        change: Callable[[dict[str, dict[str, str]]], Any],
    ) -> None:
        """Read, change and write the name index under a lock shared with other processes."""
        folder = (backend.path if isinstance(backend, FileKeyring) else keyring_file()).parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _file_lock(folder, ".index.lock"):
            keys = self._read_index(backend)
            before = json.dumps(keys, sort_keys=True)
            change(keys)
            if json.dumps(keys, sort_keys=True) != before:
                text = json.dumps({"version": 1, "keys": keys}, sort_keys=True)
                backend.set_password(INDEX_SERVICE, self.namespace, text)

    def names(self) -> dict[str, dict[str, str]]:
        """The name index of this upstream: key id -> `{"name", "hint", "at"}` (no values)."""
        return _bounded(
            "read the key names",
            lambda: self._read_index(self._ready()),
            threaded=not self.local,
        )

    def named(self, name: str) -> tuple[str, dict[str, str]] | None:
        """The key id and index record stored under `name` (exact, else any case), or None."""
        return find_name(self.names(), name)

    def reindex(
        self,
        keys: Iterable[dict[str, Any]],
        held: Iterable[str],
        index: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Bring the name index in line with key objects, `held` being the ids stored here.

        Keys held here are recorded under their current name; keys of the listing that are
        not held are dropped; ids missing from the listing (another page) are left alone.
        `index` is the index as just read (by `listing`), to save reading it again.
        """
        held = set(held)
        listed = [k for k in keys if isinstance(k.get("id"), str)]
        stale, renamed = _index_changes(listed, held, self.names() if index is None else index)
        if not stale and not renamed:
            return
        wanted = {k["id"]: k for k in listed if k["id"] in held}

        def change(entries: dict[str, dict[str, str]]) -> None:
            for key_id in stale:
                entries.pop(key_id, None)
            for key_id in renamed:
                key = wanted[key_id]
                old = entries.get(key_id) or {}
                entries[key_id] = {
                    "name": str(key.get("name")),
                    "hint": str(key.get("hint") or old.get("hint") or ""),
                    "at": old.get("at") or _now(),
                }

        _bounded("update the key names", lambda: self._change_index(self._ready(), change))

    def listing(self, key_ids: Iterable[str]) -> tuple[set[str], dict[str, dict[str, str]]]:
        """Which of these keys have a stored value, and the name index: one keyring read.

        Our file: one read of the file (none when it has not changed since the last). A
        system keyring: the name index, which records every value stored with this
        project; ids it does not name (values stored before it existed) are asked about
        one by one, once per process, and remembered when absent.
        """
        ids = [k for k in key_ids if isinstance(k, str)]

        def look() -> tuple[set[str], dict[str, dict[str, str]]]:
            backend = self._ready()
            if isinstance(backend, FileKeyring):
                entries = backend.snapshot()
                values = entries.get(SERVICE, {})
                index = _parse_index(entries.get(INDEX_SERVICE, {}).get(self.namespace))
                return {k for k in ids if self.username(k) in values}, index
            index = self._read_index(backend)
            unknown = [k for k in ids if k not in index and k not in self._absent]
            found = {k for k in unknown if backend.get_password(SERVICE, self.username(k))}
            self._absent.update(k for k in unknown if k not in found)
            return {k for k in ids if k in index} | found, index

        return _bounded("read the keys", look, timeout=TIMEOUT * 2, threaded=not self.local)

    @staticmethod
    def index_outdated(
        keys: Iterable[dict[str, Any]], held: set[str], index: dict[str, dict[str, str]]
    ) -> bool:
        """Whether `reindex(keys, held, index)` would change the name index (no I/O)."""
        stale, renamed = _index_changes(
            [k for k in keys if isinstance(k.get("id"), str)], held, index
        )
        return bool(stale or renamed)

    def holds(self, key_ids: Iterable[str]) -> set[str]:
        """Which of these keys have a stored value (one read on the file backend)."""
        ids = [k for k in key_ids if isinstance(k, str)]

        def look() -> set[str]:
            backend = self._ready()
            if isinstance(backend, FileKeyring):
                found = backend.get_many(SERVICE, [self.username(k) for k in ids])
                return {k for k in ids if self.username(k) in found}
            return {k for k in ids if backend.get_password(SERVICE, self.username(k))}

        return _bounded("read the keys", look, timeout=TIMEOUT * 2, threaded=not self.local)

    def info(self) -> dict[str, Any]:
        """The keyring in use, whether it keeps values safe, and where (never a value)."""
        try:
            backend = _bounded("find a keyring", lambda: self.backend)
        except VaultError as err:
            return {
                "backend": "unavailable",
                "secure": False,
                "error": str(err),
                "namespace": self.namespace,
            }
        qualname = _qualname(backend)
        info: dict[str, Any] = {
            "backend": getattr(backend, "name", qualname),
            "class": qualname,
            "namespace": self.namespace,
        }
        if isinstance(backend, FileKeyring):
            info["secure"] = False
            info["path"] = str(backend.path)
            info["description"] = (
                f"{backend.path}: readable only by this user (mode 0600), not encrypted"
            )
        else:
            info["secure"] = _is_system(backend)
            info["description"] = (
                "the system keyring"
                if info["secure"]
                else "a keyring configured by hand (keyringrc.cfg, PYTHON_KEYRING_BACKEND or "
                f"{BACKEND_VAR}) that is not a system keyring"
            )
        return info


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _put(keys: dict[str, dict[str, str]], key_id: str, record: dict[str, str]) -> None:
    keys[key_id] = record


def _index_changes(
    listed: list[dict[str, Any]], held: set[str], index: dict[str, dict[str, str]]
) -> tuple[list[str], list[str]]:
    """Ids of a listing to drop from the name index (not held), and to record (renamed)."""
    stale = [k["id"] for k in listed if k["id"] not in held and k["id"] in index]
    renamed = [
        k["id"]
        for k in listed
        if k["id"] in held and (index.get(k["id"]) or {}).get("name") != k.get("name")
    ]
    return stale, renamed


def _parse_index(raw: str | None) -> dict[str, dict[str, str]]:
    """The name index from its keyring entry: key id -> record (damaged: empty)."""
    try:
        data = json.loads(raw or "{}")
        keys = data.get("keys", {}) if isinstance(data, dict) else {}
    except ValueError:
        keys = {}  # damaged: rebuilt by the next store or reindex
    if not isinstance(keys, dict):
        return {}
    return {k: v for k, v in keys.items() if isinstance(v, dict) and v.get("name")}


def find_name(index: dict[str, dict[str, str]], name: str) -> tuple[str, dict[str, str]] | None:
    """The entry of `index` named `name`: exact match first, then any case; newest wins."""
    for same in (lambda n: n == name, lambda n: n.casefold() == name.casefold()):
        found = [(i, r) for i, r in index.items() if same(str(r.get("name")))]
        if found:
            return max(found, key=lambda item: str(item[1].get("at") or ""))
    return None


def vault_for(keyring_info: dict[str, Any]) -> Vault:
    """The vault a kernel uses: the same keyring the server reported in `/qbraid-keys/status`."""
    namespace = keyring_info.get("namespace") or EMBEDDED
    if keyring_info.get("error"):
        raise VaultError(str(keyring_info["error"]))
    if keyring_info.get("class") == f"{__name__}.FileKeyring" and keyring_info.get("path"):
        return Vault(namespace, FileKeyring(keyring_info["path"]))
    vault = Vault(namespace)
    wanted = keyring_info.get("class")
    mine = _qualname(_bounded("find a keyring", lambda: vault.backend))
    if wanted and mine != wanted:
        raise VaultError(
            f"This kernel's keyring ({mine}) is not the server's ({wanted}); start the kernel "
            "from the same environment as the Jupyter server."
        )
    return vault


def _check_secret_service(backend: Any) -> None:
    """Fail at once, without an unlock prompt, when the Secret Service collection is locked."""
    import secretstorage
    from secretstorage.exceptions import SecretStorageException

    try:
        connection = secretstorage.dbus_init()
    except SecretStorageException as err:
        raise VaultError(f"The Secret Service cannot be reached: {err}") from None
    try:
        path = getattr(backend, "preferred_collection", None)
        collection = (
            secretstorage.Collection(connection, path)
            if path
            else secretstorage.Collection(connection)
        )
        locked = collection.is_locked()
    except SecretStorageException as err:
        raise VaultError(
            f"The Secret Service has no usable default collection ({err}); create and unlock "
            "one (e.g. log in to the desktop), or set QBRAID_KEYS_KEYRING=file."
        ) from None
    finally:
        connection.close()
    if locked:
        raise VaultError(
            "The system keyring (Secret Service) is locked. Unlock it (log in to the desktop "
            "session, or run `gnome-keyring-daemon --unlock`), or set QBRAID_KEYS_KEYRING=file."
        )
