"""`%qbraid_key` with no Jupyter server (Contract 7): nbconvert, papermill, nbclient, IPython.

With no server to ask, a key is found by name on this machine: first in the keyring, through the
name index that Lab and `qbraid-keys` keep beside the values (`vault.Vault.named`), for the
upstream of `QBRAID_API_URL` (else qBraid's default); then in the environment variable
`QBRAID_KEY_<NAME>`, the way CI secret stores hand a secret to a job. The value is checked at the
upstream when that answers (`users/verify`), then put into the kernel exactly as in Lab: the
same environment steering, redaction, `current` and `clear`. Nothing here prints a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..service import keyformat
from ..upstream import KeyApiClient, KeyApiError
from ..vault import EMBEDDED, Vault, VaultError
from . import follow, keys
from .environ import URL_VAR
from .server import ServerNotFound, find_server, run_sync

ENV_PREFIX = "QBRAID_KEY_"
CHECK_TIMEOUT = 5.0
"""Seconds to wait for the upstream when checking a key; past it the key is used unchecked."""
UNREACHABLE = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT")
SETTINGS = (URL_VAR, "the timeout")


def env_var(name: str) -> str:
    """`QBRAID_KEY_<NAME>`: upper-cased, every character outside A-Z and 0-9 turned into `_`."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


@dataclass(frozen=True)
class Upstream:
    """The key API a headless kernel talks to."""

    root: str
    """`https://host[:port]`, without `/api/v1`."""
    source: str
    """Where it came from: `QBRAID_API_URL` or qBraid's default."""

    @property
    def api_url(self) -> str:
        """`{root}/api/v1`, qbraid-core's `QBRAID_API_URL`."""
        return f"{self.root}/api/v1"

    @property
    def is_default(self) -> bool:
        """Whether this is qBraid's own key API (then `QBRAID_API_URL` is left unset)."""
        return self.root == keys.QBRAID_DEFAULT_UPSTREAM

    @property
    def namespace(self) -> str:
        """The host part of keyring usernames for this upstream (as Lab stores them)."""
        return urlsplit(self.root).netloc or self.root

    def client(self, headers: dict[str, str] | None = None) -> KeyApiClient:
        """A key API client for this upstream (our one HTTP client)."""
        return KeyApiClient(self.api_url, headers, timeout=CHECK_TIMEOUT, settings=SETTINGS)


def upstream() -> Upstream:
    """The upstream of `QBRAID_API_URL` (`{root}/api/v1` or `{root}`), else qBraid's default."""
    raw = (os.environ.get(URL_VAR) or "").strip().rstrip("/")
    if not raw:
        return Upstream(keys.QBRAID_DEFAULT_UPSTREAM, "qBraid's default")
    root = raw[: -len("/api/v1")] if raw.endswith("/api/v1") else raw
    return Upstream(root.rstrip("/"), URL_VAR)


@dataclass(frozen=True)
class Found:
    """A key value found on this machine, and where (never printed: see `hint`)."""

    value: str
    source: str
    key_id: str | None
    hint: str


def no_server() -> ServerNotFound | None:
    """Why this kernel has no Jupyter server to ask, or None when it has one."""
    try:
        find_server()
    except ServerNotFound as err:
        return err
    return None


def _keyring_place(vault: Vault) -> str:
    info = vault.info()
    if info.get("error"):
        return f"this machine's keyring (unusable: {info['error']})"
    where = info.get("path") or info.get("backend")
    return f"this machine's keyring ({where}, keys of {vault.namespace})"


def _from_environment(name: str) -> Found | None:
    var = env_var(name)
    value = (os.environ.get(var) or "").strip()
    if not value:
        return None
    if not keyformat.is_well_formed(value):
        raise keys.BadValue(
            f"{var} does not hold a qBraid API key value (expected qbr_ followed by 64 lowercase "
            "hex characters)."
        )
    if not keyformat.has_valid_checksum(value):
        raise keys.BadValue(f"{var} holds a value with a typo: its checksum does not match.")
    return Found(value, var, None, keyformat.hint(value))


def find_value(name: str, up: Upstream, also_looked: str = "") -> Found:
    """The value of key `name`: this machine's keyring by name, else `QBRAID_KEY_<NAME>`.

    Raises `UnknownKey` with one sentence that says where it looked (plus `also_looked`).
    """
    vault = Vault(up.namespace)
    looked = []
    try:
        hit = vault.named(name)
        value = vault.fetch(hit[0]) if hit else None
        if hit and value:
            return Found(value, "this machine's keyring", hit[0], keyformat.hint(value))
        missing = "recorded, but its value is gone" if hit else f"no key named {name!r}"
        if not hit and up.namespace != EMBEDDED and Vault(EMBEDDED).named(name):
            missing += (
                " (there is one of a JupyterLab's embedded key service, which works only in "
                "that Lab's kernels)"
            )
        looked.append(f"{_keyring_place(vault)}: {missing}")
    except VaultError as err:
        looked.append(f"this machine's keyring: unusable ({err})")
    found = _from_environment(name)
    if found is not None:
        return found
    looked.append(f"the environment variable {env_var(name)}: not set")
    if also_looked:
        looked.append(also_looked)
    raise keys.UnknownKey(
        f"No qBraid API key {name!r} on this machine. Looked in {'; '.join(looked)}."
    )


def check(found: Found, name: str, up: Upstream) -> str:
    """Verify `found` at the upstream when it answers; the note for the one-line message.

    A rejected or inactive key raises; an unreachable upstream leaves the key unchecked.
    """
    try:
        who = run_sync(lambda: up.client().verify(found.value))
    except KeyApiError as err:
        if err.code in UNREACHABLE:
            return f"not checked: {up.root} could not be reached"
        if err.code == "RATE_LIMITED" or err.status in (404, 405):
            return f"not checked: {up.root} did not check it ({err.code})"
        if err.code == "API_KEY_INACTIVE":
            raise keys.KeyInactive(
                f"The qBraid API key {name!r} ({found.hint}, from {found.source}) is inactive "
                f"at {up.root}; activate it (`qbraid-keys activate {name}`) or use another key."
            ) from None
        raise keys.QbraidKeyError(
            err.status,
            err.code,
            f"{up.root} rejected the qBraid API key {name!r} ({found.hint}, from "
            f"{found.source}): {err.message}",
        ) from None
    owner = (who or {}).get("apiKey") or {}
    if found.key_id and owner.get("id") and owner["id"] != found.key_id:
        raise keys.BadValue(
            f"This machine's keyring holds, under {name!r}, the value of another key "
            f"({owner.get('name')!r}); store {name!r} again (`qbraid-keys rotate {name}`).",
            "VALIDATION_ERROR",
        )
    actual = str(owner.get("name") or name)
    if found.key_id and actual.casefold() != name.casefold():
        renamed = {"id": found.key_id, "name": actual, "hint": found.hint}
        Vault(up.namespace).reindex([renamed], {found.key_id})
        raise keys.UnknownKey(
            f"The key stored here as {name!r} is now named {actual!r} at {up.root}; "
            f"`%qbraid_key use {actual}`."
        )
    return f"checked at {up.root}"


def use_key(name: str, why: ServerNotFound) -> str:
    """`%qbraid_key use NAME` with no Jupyter server; returns the one-line message."""
    up = upstream()

    def use() -> str:
        found = find_value(name, up, f"a Jupyter server: none ({why.message.rstrip('.')})")
        keys._protect_output()
        keys.STATE.redactor.hide(found.value, name)
        note = check(found, name, up)
        keys.STATE.credentials.apply(found.value, None if up.is_default else up.api_url)
        # No server writes a state file here: the follower only says which key is in use.
        keys.STATE.follower = follow.KeyFollower(
            {"id": found.key_id, "name": name}, found.value, None, None, keys.STATE.new_value
        )
        return (
            f"Using qBraid API key {name!r} ({found.hint}) in this kernel, from {found.source}; "
            f"{note}."
        )

    return keys._friendly(use)


def add_key(name: str, read: Callable[[str], str]) -> str:
    """`%qbraid_key add NAME` with no Jupyter server: checked at the upstream, then stored."""
    up = upstream()

    def add() -> str:
        value = read(f"Value of qBraid API key {name!r} (input hidden): ").strip()
        if not keyformat.is_well_formed(value):
            raise keys.BadValue(
                "That is not a qBraid API key value (expected qbr_ followed by 64 lowercase hex "
                "characters); nothing was stored."
            )
        if not keyformat.has_valid_checksum(value):
            raise keys.BadValue(
                "That value has a typo: its checksum does not match; nothing was stored."
            )
        keys._protect_output()
        keys.STATE.redactor.hide(value, name)
        try:
            who = run_sync(lambda: up.client().verify(value))
        except KeyApiError as err:
            raise keys.BadValue(
                f"{up.root} could not confirm that value ({err.message}); nothing was stored.",
                err.code,
            ) from None
        owner = (who or {}).get("apiKey") or {}
        if str(owner.get("name", "")).casefold() != name.casefold() or not owner.get("id"):
            raise keys.BadValue(
                f"That value belongs to the key {owner.get('name')!r}, not {name!r}; nothing "
                "was stored.",
                "VALIDATION_ERROR",
            )
        Vault(up.namespace).store(str(owner["id"]), value, str(owner["name"]))
        return (
            f"Stored the value of qBraid API key {owner['name']!r} ({keyformat.hint(value)}) in "
            f"this machine's keyring for {up.root}; `%qbraid_key use {owner['name']}` puts it in "
            "a kernel."
        )

    return keys._friendly(add)


def usable_keys(up: Upstream) -> list[dict[str, str]]:
    """The keys this machine can use with `up`: `{"name", "hint", "source"}`, never a value."""
    found: list[dict[str, str]] = []
    for record in Vault(up.namespace).names().values():
        found.append({"name": record["name"], "hint": record.get("hint", ""), "source": "keyring"})
    for var, value in sorted(os.environ.items()):
        if var.startswith(ENV_PREFIX) and len(var) > len(ENV_PREFIX) and value.strip():
            value = value.strip()
            shown = keyformat.hint(value) if keyformat.is_well_formed(value) else "not a qbr_ value"
            found.append({"name": var[len(ENV_PREFIX) :].lower(), "hint": shown, "source": var})
    return found


def list_text(why: ServerNotFound) -> str:
    """`%qbraid_key list` with no Jupyter server: the keys this machine holds, by name."""
    up = upstream()

    def listing() -> str:
        found = usable_keys(up)
        head = f"No Jupyter server: the qBraid API keys this kernel can use with {up.root}"
        if not found:
            return (
                f"{head}: none (nothing in this machine's keyring, no {ENV_PREFIX}<NAME> variable)."
            )
        current = (keys.STATE.current or {}).get("name")
        rows = [("", "NAME", "HINT", "FROM")]
        for key in found:
            mark = "*" if key["name"] == current else ""
            rows.append((mark, key["name"], key["hint"], key["source"]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{head}:"]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        if current:
            lines.append("* used by this kernel")
        return "\n".join(lines)

    return keys._friendly(listing)


def reachability(up: Upstream) -> str:
    """`reachable`, or `NOT reachable: why`, probing a route that needs no credential."""
    try:
        run_sync(lambda: up.client().request("GET", "qbraid-keys-probe"))
    except KeyApiError as err:
        if err.code in UNREACHABLE:
            return f"NOT reachable: {err.message}"
    return "reachable"


def status_text(why: ServerNotFound) -> str:
    """`%qbraid_key status` with no Jupyter server."""
    up = upstream()
    vault = Vault(up.namespace)
    ring = vault.info()
    if ring.get("error"):
        keyring_line = f"Keyring: unavailable ({ring['error']})"
    else:
        keyring_line = f"Keyring: {ring.get('backend')} ({ring.get('description')})"
    return "\n".join(
        [
            f"Jupyter server: not found ({why.message.rstrip('.')}); keys come from this "
            f"machine's keyring or {ENV_PREFIX}<NAME> variables",
            f"Upstream: key API at {up.root} (from {up.source}; {reachability(up)})",
            keyring_line,
            keys.current_key(),
        ]
    )
