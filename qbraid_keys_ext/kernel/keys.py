"""What `%qbraid_key` does in this kernel: use, add, clear and describe keys (never a value)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..service import keyformat
from ..service.store import fold_name
from ..upstream import KeyApiError
from ..vault import VaultError, vault_for
from . import follow, headless, holders, sdkerrors
from .environ import KEY_VAR, KernelCredentials
from .redact import Redactor
from .server import (
    ServerNotFound,
    call,
    call_page,
    call_server,
    find_server,
    server_status,
)

T = TypeVar("T")

QBRAID_DEFAULT_UPSTREAM = "https://api-v2.qbraid.com"


class QbraidKeyError(KeyApiError):
    """A failure of a `%qbraid_key` command: shown as its one-line message, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [self.message]


class UnknownKey(QbraidKeyError):
    """No key of that name in the account."""

    def __init__(self, message: str) -> None:
        super().__init__(404, "NOT_FOUND", message)


class KeyNotStored(QbraidKeyError):
    """This Lab's keyring does not hold the key's (current) value."""

    def __init__(self, message: str) -> None:
        super().__init__(409, "NOT_STORED", message)


class KeyInactive(QbraidKeyError):
    """The key is inactive."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "API_KEY_INACTIVE", message)


class KeyringUnavailable(QbraidKeyError):
    """The keyring could not be used."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "KEYRING_UNAVAILABLE", message)


class BadValue(QbraidKeyError):
    """A value given to `add` is not a valid key value, or not this key's."""

    def __init__(self, message: str, code: str = "INVALID_API_KEY_FORMAT") -> None:
        super().__init__(400, code, message)


class KernelState:
    """This kernel's key: the redactor, the environment changes, the key in use."""

    def __init__(self) -> None:
        self.redactor = Redactor()
        self.credentials = KernelCredentials()
        self.follower: follow.KeyFollower | None = None

    @property
    def current(self) -> dict[str, Any] | None:
        """The key this kernel uses (id, name, hint after any rotation), or None."""
        f = self.follower
        return {"id": f.key_id, "name": f.name, "hint": f.hint} if f else None

    def new_value(self, value: str, name: str) -> None:
        """A rotation reached this kernel: hide the new value and put it in the environment."""
        self.redactor.hide(value, name)
        os.environ[KEY_VAR] = value


STATE = KernelState()


def _friendly(fn: Callable[[], T]) -> T:
    """Run `fn`, turning any key API or keyring failure into a one-line `QbraidKeyError`."""
    try:
        return fn()
    except (QbraidKeyError, ServerNotFound):
        raise
    except KeyApiError as err:
        raise QbraidKeyError(err.status, err.code, err.message) from None
    except VaultError as err:
        raise KeyringUnavailable(f"This Lab's keyring cannot be used: {err}") from None


def _protect_output() -> None:
    """Install value redaction on this kernel's session (once)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - always present in a kernel
        return
    shell = get_ipython()
    if shell is not None:
        STATE.redactor.install_in(shell)
        sdkerrors.install(shell, lambda: (STATE.current or {}).get("name"))


NAMES_SHOWN = 20
"""How many other keys an unknown name's error names."""
LIST_PAGE = 100
"""How many keys `%qbraid_key list` shows (newest first)."""


def _key_named(name: str) -> dict[str, Any]:
    """The key called `name`, found as the key API compares names: regardless of case.

    One `name=` lookup (the server finds it by its index), never the whole account; an
    upstream without pages answers every key, and the same comparison picks from those.
    """
    keys = call("GET", "api-keys", params={"name": name, "limit": str(NAMES_SHOWN)})
    same = [k for k in keys if fold_name(str(k.get("name", ""))) == fold_name(name)]
    exact = [k for k in same if k.get("name") == name]
    if exact or len(same) == 1:
        return (exact or same)[0]
    if same:  # a database from before the rule may hold names that differ only in case
        shown = ", ".join(sorted(repr(k.get("name")) for k in same))
        raise UnknownKey(f"Several qBraid API keys match {name!r}: {shown}; give the exact name.")
    answer = call_page({"limit": str(NAMES_SHOWN)})
    names = ", ".join(sorted(repr(k.get("name")) for k in answer["data"]))
    total = answer["page"]["total"]
    more = f" (the newest {NAMES_SHOWN} of {total:,})" if total > NAMES_SHOWN else ""
    if names:
        raise UnknownKey(f"There is no qBraid API key named {name!r}. Keys{more}: {names}.")
    raise UnknownKey(
        f"There is no qBraid API key named {name!r}: this account has no keys yet. "
        "Create one in the API Keys sidebar."
    )


def _api_url(status: dict[str, Any]) -> str | None:
    """`{upstream}/api/v1` for `QBRAID_API_URL`, or None for qBraid's default upstream."""
    root = ((status.get("upstream") or {}).get("url") or "").rstrip("/")
    if not root or root == QBRAID_DEFAULT_UPSTREAM:
        return None
    return f"{root}/api/v1"


def _clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "'\"":
        cleaned = cleaned[1:-1].strip()
    if not cleaned:
        raise UnknownKey("Name the key, e.g. `%qbraid_key use ci`.")
    return cleaned


def use_key(name: str) -> str:
    """Make this kernel use key `name`; returns the one-line message (hint only)."""
    name = _clean_name(name)
    # Contract 7: with no Jupyter server, keys come from this machine (kernel/headless.py).
    if (no_server := headless.no_server()) is not None:
        return headless.use_key(name, no_server)

    def use() -> str:
        status = server_status()
        key = _key_named(name)
        if key.get("status") != "active":
            raise KeyInactive(
                f"The qBraid API key {name!r} is inactive; activate it in the API Keys "
                "sidebar, or use another key."
            )
        vault = vault_for(status.get("keyring") or {})
        value = vault.fetch(str(key["id"]))
        how = (
            "regenerate it here (API Keys sidebar, Regenerate Key) or run "
            f"`%qbraid_key add {name}` and paste its value"
        )
        if not value:
            raise KeyNotStored(
                f"The value of the qBraid API key {name!r} is not stored in this Lab's keyring; "
                f"{how}."
            )
        hint = key.get("hint") or keyformat.hint(value)
        if keyformat.hint(value) != hint:
            raise KeyNotStored(
                f"This Lab's keyring holds an older value of the qBraid API key {name!r} (it was "
                f"regenerated elsewhere); {how}."
            )
        named = str(key.get("name") or name)
        _protect_output()
        STATE.redactor.hide(value, named)
        STATE.credentials.apply(value, _api_url(status))
        kernel_id = holders.this_kernel_id()
        STATE.follower = follow.KeyFollower(
            {**key, "name": named}, value, vault, kernel_id, STATE.new_value
        )
        follow.follow(STATE.follower)
        holders.mark(key)
        return f"Using qBraid API key {named!r} ({hint}) in this kernel."

    return _friendly(use)


def current_key() -> str:
    """Which key this kernel uses, as one line (hint only)."""
    follower = STATE.follower
    if follower and os.environ.get(KEY_VAR):
        follower.sync()
        if follower.gone:
            return follower.gone
        return f"This kernel uses qBraid API key {follower.name!r} ({follower.hint})."
    value = os.environ.get(KEY_VAR)
    if value:
        shown = keyformat.hint(value) if keyformat.is_well_formed(value) else "not a qbr_ value"
        return (
            f"This kernel has {KEY_VAR} from its environment ({shown}), not from "
            "%qbraid_key; `%qbraid_key use NAME` replaces it."
        )
    return "This kernel uses no qBraid API key; `%qbraid_key use NAME` sets one."


def clear_key() -> str:
    """Remove the key from this kernel (its value stays hidden in outputs)."""
    if not STATE.credentials.active:
        return "This kernel uses no qBraid API key from %qbraid_key; nothing to clear."
    name = (STATE.current or {}).get("name")
    STATE.credentials.restore()
    STATE.follower = None
    follow.follow(None)
    holders.unmark()
    return f"Removed qBraid API key {name!r} from this kernel."


def add_key(name: str, read: Callable[[str], str] | None = None) -> str:
    """Store a value created elsewhere for key `name`: read without echo, checked, verified."""
    name = _clean_name(name)
    # Contract 7: with no Jupyter server, keys come from this machine (kernel/headless.py).
    if headless.no_server() is not None:
        return headless.add_key(name, read or getpass.getpass)

    def add() -> str:
        key = _key_named(name)
        prompt = f"Value of qBraid API key {name!r} (input hidden): "
        value = (read or getpass.getpass)(prompt).strip()
        wrong = keyformat.problem(value)
        if wrong:
            raise BadValue(wrong)
        _protect_output()
        STATE.redactor.hide(value, name)
        try:
            call_server("PUT", f"keyring/{key['id']}", {"value": value})
        except KeyApiError as err:
            if err.status == 400:
                raise BadValue(err.message, err.code) from None
            raise
        follower = STATE.follower
        if follower is not None and follower.key_id == key["id"]:
            follower.gone = None  # a kernel that uses this key picks the value up at once
            follower.adopt(value)
        return (
            f"Stored the value of qBraid API key {name!r} ({keyformat.hint(value)}) in this "
            f"Lab's keyring; `%qbraid_key use {name}` puts it in a kernel."
        )

    return _friendly(add)


def list_keys(search: str = "") -> str:
    """The account's newest keys (or those whose name or hint contains `search`) as a table."""
    # Contract 7: with no Jupyter server, keys come from this machine (kernel/headless.py).
    if (no_server := headless.no_server()) is not None:
        return headless.list_text(no_server)
    search = search.strip()

    def listing() -> str:
        params = {"limit": str(LIST_PAGE), **({"q": search} if search else {})}
        answer = call_page(params)
        keys, total = answer["data"], answer["page"]["total"]
        if not keys and search:
            return f"No qBraid API key has {search!r} in its name or hint."
        if not keys:
            return "This account has no qBraid API keys yet; create one in the API Keys sidebar."
        current = (STATE.current or {}).get("id")
        rows = [("", "NAME", "HINT", "STATUS", "LAST USED", "STORED HERE")]
        for key in keys:
            rows.append(
                (
                    "*" if key.get("id") == current else "",
                    str(key.get("name")),
                    str(key.get("hint")),
                    str(key.get("status")),
                    (key.get("lastUsedAt") or "never").replace("T", " ").replace("Z", " UTC"),
                    "yes" if key.get("stored") else "no",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        if any(row[0] == "*" for row in rows):
            lines.append("* used by this kernel")
        if total > len(keys):
            which = f"with {search!r} in their name or hint" if search else "in this account"
            lines.append(
                f"The newest {len(keys)} of {total:,} keys {which}; "
                "`%qbraid_key list TEXT` shows the keys whose name or hint contains TEXT."
            )
        return "\n".join(lines)

    return _friendly(listing)


def status_text() -> str:
    """Upstream, keyring backend, server found or not, and this kernel's key."""
    # Contract 7: with no Jupyter server, keys come from this machine (kernel/headless.py).
    if (no_server := headless.no_server()) is not None:
        return headless.status_text(no_server)
    lines = []
    try:
        url, _token = find_server()
        status = server_status()
    except KeyApiError as err:
        lines.append(f"Jupyter server: not found or not answering ({err.message})")
        lines.append(current_key())
        return "\n".join(lines)
    lines.append(f"Jupyter server: {url}")
    upstream = status.get("upstream") or {}
    kind = "embedded key service" if upstream.get("kind") == "embedded" else "key API"
    reach = "reachable" if upstream.get("reachable") else "NOT reachable"
    extra = f": {upstream['message']}" if upstream.get("message") else ""
    lines.append(f"Upstream: {kind} at {upstream.get('url')} ({reach}{extra})")
    ring = status.get("keyring") or {}
    about = ring.get("description") or ("secure" if ring.get("secure") else "not secure")
    if ring.get("error"):
        lines.append(f"Keyring: unavailable ({ring['error']})")
    else:
        lines.append(f"Keyring: {ring.get('backend')} ({about})")
    lines.append(current_key())
    return "\n".join(lines)
