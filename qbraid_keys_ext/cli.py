"""`qbraid-keys` (also `jupyter qbraid-keys`): qBraid API keys from a terminal or a CI job.

It talks to a Jupyter server with this extension running on this machine, found the way
`jupyter server list` finds them (`QBRAID_KEYS_SERVER_URL` and `QBRAID_KEYS_SERVER_TOKEN`
override, as for kernels), or with `--url ROOT` to a key API directly, with the account token
from `QBRAID_ACCESS_TOKEN` or `--token-file`. Only `create` and `rotate` print a value: once,
alone on stdout, so that it can be piped into a secret store. Errors are one line on stderr
and a non-zero exit. `exec` with neither a server nor `--url` finds the key the way a headless
notebook does (this machine's keyring by name, else `QBRAID_KEY_<NAME>`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from . import __version__
from .kernel import headless
from .kernel.environ import KernelCredentials
from .kernel.keys import QBRAID_DEFAULT_UPSTREAM
from .kernel.server import TOKEN_VAR as SERVER_TOKEN_VAR
from .kernel.server import URL_VAR as SERVER_URL_VAR
from .service import keyformat
from .upstream import KeyApiClient, KeyApiError
from .vault import Vault, VaultError, vault_for

ACCESS_TOKEN_VAR = "QBRAID_ACCESS_TOKEN"
EXIT_ERROR = 1
EXIT_USAGE = 2
PROBE_TIMEOUT = 5.0


class CliError(Exception):
    """A failure shown as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# -- where requests go -------------------------------------------------------------------


class Target:
    """The key API as this command reaches it: a Jupyter server's routes, or `--url`."""

    describe = ""
    client: KeyApiClient

    async def list(self) -> list[dict[str, Any]]:
        """The account's keys, each with `stored` (whether this machine's keyring holds it)."""
        raise NotImplementedError

    async def page(self, params: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of `GET api-keys` (`limit`, `cursor`, `name`, `q`): keys and `page`.

        An upstream without pages answers every key and no `page`: that is one last page.
        """
        answer = await self.client.request("GET", "api-keys", params=params, envelope=False)
        keys = [k for k in answer.get("data") or [] if isinstance(k, dict)]
        page = answer.get("page")
        if not isinstance(page, dict):
            page = {"next": None, "total": len(keys)}
        return await self.mark_stored(keys), page

    async def mark_stored(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keys with `stored` (a Jupyter server's answers have it already)."""
        return keys

    async def create(self, body: dict[str, Any], store: bool) -> dict[str, Any]:
        """Create a key; the answer carries the value once."""
        raise NotImplementedError

    async def rotate(self, key: dict[str, Any], store: bool) -> dict[str, Any]:
        """Give a key a new value; the answer carries it once."""
        raise NotImplementedError

    async def revoke(self, key: dict[str, Any]) -> dict[str, Any]:
        """Revoke a key for good (and forget its value here)."""
        raise NotImplementedError

    async def patch(self, key: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Change a key's status."""
        return await self.client.request("PATCH", _key_path(key), body)

    async def status(self) -> dict[str, Any]:
        """Upstream, keyring, server (as `{base_url}qbraid-keys/status`, plus `server`)."""
        raise NotImplementedError

    async def vault(self) -> Vault:
        """This machine's keyring for the key API's upstream."""
        raise NotImplementedError

    async def api_url(self) -> str | None:
        """`QBRAID_API_URL` for a key of this upstream, or None for qBraid's default."""
        raise NotImplementedError


def _key_path(key: dict[str, Any], *rest: str) -> str:
    from urllib.parse import quote

    return "/".join(["api-keys", quote(str(key["id"]), safe=""), *rest])


def _api_url_for(root: str) -> str | None:
    root = root.rstrip("/")
    return None if not root or root == QBRAID_DEFAULT_UPSTREAM else f"{root}/api/v1"


class ServerTarget(Target):
    """A running Jupyter server's `qbraid-keys` routes (it holds the account credential)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url if url.endswith("/") else url + "/"
        headers = {"Authorization": f"token {token}"} if token else {}
        settings = (SERVER_URL_VAR, "--timeout")
        self.client = KeyApiClient(
            f"{self.url}qbraid-keys/api/v1", headers, timeout=timeout, settings=settings
        )
        self._status_client = KeyApiClient(
            f"{self.url}qbraid-keys", headers, timeout=timeout, settings=settings
        )
        self._status: dict[str, Any] | None = None
        self.describe = f"the Jupyter server at {self.url}"

    async def status(self) -> dict[str, Any]:
        if self._status is None:
            answer = await self._status_client.request("GET", "status", envelope=False)
            if not isinstance(answer, dict) or "upstream" not in answer:
                raise CliError(f"{self.describe} did not answer as qbraid-keys-ext does.")
            self._status = {"server": self.url, **answer}
        return self._status

    async def list(self) -> list[dict[str, Any]]:
        return await self.client.request("GET", "api-keys")

    async def create(self, body: dict[str, Any], store: bool) -> dict[str, Any]:
        return await self.client.request("POST", "api-keys", {**body, "store": store})

    async def rotate(self, key: dict[str, Any], store: bool) -> dict[str, Any]:
        return await self.client.request(
            "POST", _key_path(key, "rotate"), None if store else {"store": False}
        )

    async def revoke(self, key: dict[str, Any]) -> dict[str, Any]:
        return await self.client.request("DELETE", _key_path(key))

    async def vault(self) -> Vault:
        return vault_for((await self.status()).get("keyring") or {})

    async def api_url(self) -> str | None:
        return _api_url_for(((await self.status()).get("upstream") or {}).get("url") or "")


class ApiTarget(Target):
    """The key API at `--url ROOT`, with the account token; values kept in this keyring."""

    def __init__(self, root: str, token: str, timeout: float) -> None:
        self.root = root
        self.client = KeyApiClient(
            f"{root}/api/v1",
            {"X-Access-Token": token},
            timeout=timeout,
            settings=("--url", "--timeout"),
        )
        self.describe = f"the key API at {root}"
        self._vault = Vault(urlsplit(root).netloc or root)

    async def vault(self) -> Vault:
        return self._vault

    async def api_url(self) -> str | None:
        return _api_url_for(self.root)

    async def list(self) -> list[dict[str, Any]]:
        return await self.mark_stored(await self.client.list_keys())

    async def mark_stored(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            held = self._vault.holds(k.get("id") for k in keys)
        except VaultError as err:
            _note(f"the keyring could not be read ({err}); 'stored' is unknown.")
            return keys
        for key in keys:
            key["stored"] = key.get("id") in held
        with contextlib.suppress(VaultError):  # the names are refreshed by the next list
            self._vault.reindex(keys, held)
        return keys

    def _keep(self, key: dict[str, Any], store: bool) -> dict[str, Any]:
        key["stored"] = False
        try:
            if store:
                self._vault.store(str(key["id"]), key["value"], str(key.get("name")))
                key["stored"] = True
            else:
                self._vault.delete(str(key["id"]))  # an older value is dead now
        except VaultError as err:
            key["storeError"] = str(err)
        return key

    async def create(self, body: dict[str, Any], store: bool) -> dict[str, Any]:
        return self._keep(await self.client.create_key(body), store)

    async def rotate(self, key: dict[str, Any], store: bool) -> dict[str, Any]:
        return self._keep(await self.client.request("POST", _key_path(key, "rotate")), store)

    async def revoke(self, key: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.request("DELETE", _key_path(key))
        try:
            self._vault.delete(str(key["id"]))
        except VaultError as err:
            result["keyringError"] = str(err)
        return result

    async def status(self) -> dict[str, Any]:
        upstream: dict[str, Any] = {"kind": "remote", "url": self.root}
        try:
            await self.client.scopes()
            upstream.update(reachable=True, authorized=True)
        except KeyApiError as err:
            reachable = err.code not in headless.UNREACHABLE
            upstream.update(reachable=reachable, authorized=False, message=err.message)
        return {
            "server": None,
            "upstream": upstream,
            "keyring": self._vault.info(),
            "version": __version__,
        }


def running_servers() -> list[dict[str, Any]]:
    """The runtime files of running Jupyter servers, as `jupyter server list` reads them.

    `jupyter_server.serverapp.list_running_servers` reads `jpserver-*.json` in the Jupyter
    runtime directory and keeps those whose `pid` is alive; this does the same with the same
    pieces (`jupyter_runtime_dir`, `check_pid`) without importing the whole server, which
    takes seconds (it builds jsonschema's format checkers), and leaves stale files alone.
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_server.utils import check_pid

    found = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written, or gone
        if isinstance(info, dict) and isinstance(info.get("pid"), int) and check_pid(info["pid"]):
            found.append(info)
    return found


def _running_servers(wanted: str | None) -> list[tuple[str, str]]:
    """(url, token) of Jupyter servers on this machine, as `jupyter server list` sees them."""
    env_url, env_token = os.environ.get(SERVER_URL_VAR), os.environ.get(SERVER_TOKEN_VAR)
    if env_url and not wanted:
        return [(env_url, env_token or "")]
    # A JupyterHub single-user server writes no token: its terminals hold its Hub API token.
    hub = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    found = [(str(i.get("url", "")), str(i.get("token") or hub)) for i in running_servers()]
    if not wanted:
        return [(url, token) for url, token in found if url]
    same = [(u, env_token or t) for u, t in found if _same_server(u, wanted)]
    return same or [(wanted, env_token or "")]


LOOPBACK = ("localhost", "127.0.0.1", "::1", "")


def _same_server(a: str, b: str) -> bool:
    """Whether two server URLs name the same server (`localhost` and `127.0.0.1` alike)."""
    one, two = urlsplit(a), urlsplit(b)
    hosts = {one.hostname or "", two.hostname or ""}
    same_host = len(hosts) == 1 or hosts <= set(LOOPBACK)
    return same_host and one.port == two.port and one.path.rstrip("/") == two.path.rstrip("/")


async def find_server(wanted: str | None, timeout: float) -> ServerTarget | None:
    """The first running Jupyter server whose `qbraid-keys/status` answers, or None."""
    tried = []
    for url, token in _running_servers(wanted):
        target = ServerTarget(url, token, min(timeout, PROBE_TIMEOUT))
        try:
            await target.status()
        except KeyApiError as err:
            why = err.message
            if err.status in (401, 403):
                why = f"it refused the token (HTTP {err.status}; set {SERVER_TOKEN_VAR})"
            elif err.status == 404:
                why = "it does not have qbraid-keys-ext enabled"
            tried.append(f"{url}: {why}")
            continue
        except CliError as err:
            tried.append(err.message)
            continue
        target.client.timeout = timeout
        return target
    if tried:
        raise CliError(
            "No Jupyter server with qbraid-keys-ext answered: "
            + "; ".join(tried)
            + ". Or use --url ROOT with QBRAID_ACCESS_TOKEN to reach the key API directly."
        )
    return None


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise CliError(
                f"Cannot read the token file {args.token_file}: {err.strerror}."
            ) from None
        if not token:
            raise CliError(f"The token file {args.token_file} is empty.")
        return token
    token = os.environ.get(ACCESS_TOKEN_VAR, "").strip()
    if not token:
        raise CliError(
            f"--url needs the account token: set {ACCESS_TOKEN_VAR} or pass --token-file FILE."
        )
    return token


def _root(url: str) -> str:
    root = url.strip().rstrip("/")
    if root.endswith("/api/v1"):
        root = root[: -len("/api/v1")]
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"--url must be an http(s) URL such as https://api-v2.qbraid.com, not {url!r}."
        )
    return root


async def target(args: argparse.Namespace, required: bool = True) -> Target | None:
    """Where this command goes: `--url`, else a running Jupyter server."""
    if args.url:
        return ApiTarget(_root(args.url), _token(args), args.timeout)
    server = await find_server(args.server, args.timeout)
    if server is None and required:
        raise CliError(
            "No running Jupyter server with qbraid-keys-ext was found on this machine (as "
            "`jupyter server list` sees them). Start JupyterLab, or use --url ROOT with "
            f"{ACCESS_TOKEN_VAR} (or --token-file) to reach the key API directly."
        )
    return server


NAMES_SHOWN = 20
"""How many other keys an unknown name's error names."""


async def key_named(where: Target, name: str) -> dict[str, Any]:
    """The key called `name` (exact, else any case), or a clear error naming the others.

    One `name=` lookup, never the whole account (an upstream without pages answers every
    key, and the same comparison picks from those).
    """
    keys, _ = await where.page({"name": name, "limit": str(NAMES_SHOWN)})
    for same in (lambda n: n == name, lambda n: n.casefold() == name.casefold()):
        for key in keys:
            if same(str(key.get("name"))):
                return key
    keys, page = await where.page({"limit": str(NAMES_SHOWN)})
    names = ", ".join(sorted(repr(k.get("name")) for k in keys)[:NAMES_SHOWN])
    total = page.get("total") or len(keys)
    more = f" (the newest {NAMES_SHOWN} of {total:,})" if total > NAMES_SHOWN else ""
    others = f" Keys{more}: {names}." if names else " The account has no keys yet."
    raise CliError(f"There is no qBraid API key named {name!r} at {where.describe}.{others}")


# -- output ------------------------------------------------------------------------------


def _note(message: str) -> None:
    print(f"qbraid-keys: {message}", file=sys.stderr)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=1) if args.json else text)


def _when(stamp: str | None) -> str:
    return (stamp or "never").replace("T", " ").replace("Z", " UTC")


def _table(keys: list[dict[str, Any]]) -> str:
    if not keys:
        return "This account has no qBraid API keys yet; create one with `qbraid-keys create NAME`."
    rows = [("NAME", "HINT", "STATUS", "SCOPES", "LAST USED", "STORED HERE")]
    for key in keys:
        stored = key.get("stored")
        rows.append(
            (
                str(key.get("name")),
                str(key.get("hint")),
                str(key.get("status")),
                ",".join(key.get("scopes") or []),
                _when(key.get("lastUsedAt")),
                "yes" if stored else ("no" if stored is False else "?"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _print_value(args: argparse.Namespace, key: dict[str, Any], verb: str) -> None:
    """The one place a value is printed: alone on stdout (or in the --json answer)."""
    try:
        if args.json:
            sys.stdout.write(json.dumps(key, indent=1) + "\n")
        else:
            sys.stdout.write(str(key["value"]) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise CliError(
            f"{verb} qBraid API key {key.get('name')!r} ({key.get('hint')}), but its value could "
            "not be written (stdout closed); rotate it again to get a value."
        ) from None
    if key.get("storeError"):
        _note(f"the value was not stored in this machine's keyring: {key['storeError']}")
    if not args.json:
        where = (
            "stored in this machine's keyring"
            if key.get("stored")
            else "not stored here: this is the only time it is shown"
        )
        _note(f"{verb} qBraid API key {key.get('name')!r} ({key.get('hint')}); value {where}.")


def _confirm(args: argparse.Namespace, question: str) -> None:
    """Ask on a terminal (never in a pipeline or with --yes)."""
    if args.yes or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("Nothing was changed.")


# -- commands ----------------------------------------------------------------------------


async def cmd_list(args: argparse.Namespace) -> int:
    keys = await (await target(args)).list()
    _emit(args, keys, _table(keys))
    return 0


async def cmd_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.scope:
        body["scopes"] = args.scope
    key = await (await target(args)).create(body, not args.no_store)
    _print_value(args, key, "Created")
    return 0


async def cmd_rotate(args: argparse.Namespace) -> int:
    where = await target(args)
    key = await key_named(where, args.name)
    _confirm(
        args, f"Regenerate {key['name']!r} ({key.get('hint')})? Its value stops working at once."
    )
    _print_value(args, await where.rotate(key, not args.no_store), "Regenerated")
    return 0


async def cmd_revoke(args: argparse.Namespace) -> int:
    where = await target(args)
    key = await key_named(where, args.name)
    _confirm(args, f"Revoke {key['name']!r} ({key.get('hint')}) for good? This cannot be undone.")
    result = await where.revoke(key)
    if result.get("keyringError"):
        _note(f"the value could not be removed from this keyring: {result['keyringError']}")
    _emit(args, result, f"Revoked qBraid API key {key['name']!r} ({key.get('hint')}).")
    return 0


async def _set_status(args: argparse.Namespace, status: str, verb: str) -> int:
    where = await target(args)
    key = await key_named(where, args.name)
    changed = await where.patch(key, {"status": status})
    _emit(args, changed, f"{verb} qBraid API key {key['name']!r} ({key.get('hint')}).")
    return 0


async def cmd_activate(args: argparse.Namespace) -> int:
    return await _set_status(args, "active", "Activated")


async def cmd_deactivate(args: argparse.Namespace) -> int:
    return await _set_status(args, "inactive", "Deactivated")


def _keyring_line(ring: dict[str, Any]) -> str:
    if ring.get("error"):
        return f"Keyring: unavailable ({ring['error']})"
    return f"Keyring: {ring.get('backend')} ({ring.get('description')})"


async def cmd_status(args: argparse.Namespace) -> int:
    where = await target(args, required=False)
    if where is None:
        up = headless.upstream()
        reach = headless.reachability(up)
        status = {
            "server": None,
            "upstream": {"kind": "remote", "url": up.root, "reachable": reach == "reachable"},
            "keyring": Vault(up.namespace).info(),
            "version": __version__,
        }
        lines = [
            "Jupyter server: none running (as `jupyter server list` sees them); `exec` finds "
            f"keys in this machine's keyring or {headless.ENV_PREFIX}<NAME>",
            f"Upstream: key API at {up.root} (from {up.source}; {reach})",
            _keyring_line(status["keyring"]),
        ]
        _emit(args, status, "\n".join(lines))
        return 0
    status = await where.status()
    upstream = status.get("upstream") or {}
    if upstream.get("reachable") and upstream.get("authorized", True):
        reach = "reachable"
    elif upstream.get("reachable"):
        reach = f"reachable, but the token was refused: {upstream.get('message')}"
    else:
        reach = f"NOT reachable: {upstream.get('message')}"
    kind = "embedded key service" if upstream.get("kind") == "embedded" else "key API"
    lines = [
        f"Jupyter server: {status['server']}"
        if status.get("server")
        else "Jupyter server: not used (--url)",
        f"Upstream: {kind} at {upstream.get('url')} ({reach})",
        _keyring_line(status.get("keyring") or {}),
    ]
    _emit(args, status, "\n".join(lines))
    ok = upstream.get("reachable") and upstream.get("authorized", True)
    return 0 if ok else EXIT_ERROR


async def _exec_value(args: argparse.Namespace) -> tuple[str, str | None]:
    """The value of key NAME and the `QBRAID_API_URL` to run with (None: qBraid's default)."""
    where = await target(args, required=False)
    if where is None:  # no server, no --url: as a headless notebook does
        up = headless.upstream()
        also = "a Jupyter server: none running (as `jupyter server list` sees them)"
        try:
            found = headless.find_value(args.name, up, also)
            headless.check(found, args.name, up)
        except KeyApiError as err:
            raise CliError(err.message) from None
        return found.value, None if up.is_default else up.api_url
    key = await key_named(where, args.name)
    if key.get("status") != "active":
        raise CliError(
            f"The qBraid API key {key['name']!r} is inactive; `qbraid-keys activate "
            f"{key['name']}` or use another key."
        )
    vault = await where.vault()
    value = vault.fetch(str(key["id"]))
    source = "this machine's keyring"
    if not value:
        var = headless.env_var(args.name)
        value = (os.environ.get(var) or "").strip() or None
        source = var
    if not value:
        raise CliError(
            f"The value of the qBraid API key {key['name']!r} is not stored in this machine's "
            f"keyring and {headless.env_var(args.name)} is not set; `qbraid-keys rotate "
            f"{key['name']}` gives it a new value and stores it."
        )
    if not keyformat.is_well_formed(value) or keyformat.hint(value) != key.get("hint"):
        raise CliError(
            f"{source} holds another value than the current one of {key['name']!r} "
            f"({key.get('hint')}); it was regenerated elsewhere. `qbraid-keys rotate "
            f"{key['name']}` gives it a new value and stores it."
        )
    return value, await where.api_url()


def cmd_exec(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise CliError(
            "Name the command to run: qbraid-keys exec NAME -- CMD [ARGS...]", EXIT_USAGE
        )
    value, api_url = _run(_exec_value(args))
    credentials = KernelCredentials()
    credentials.apply(value, api_url)
    del value
    try:
        try:
            child = subprocess.Popen(command)
        except FileNotFoundError:
            raise CliError(f"Cannot run {command[0]!r}: command not found.", 127) from None
        except PermissionError:
            raise CliError(f"Cannot run {command[0]!r}: permission denied.", 126) from None
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child gets Ctrl-C
        try:
            code = child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        credentials.restore()
    return 128 - code if code < 0 else code


# -- arguments ---------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _common(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the command (`SUPPRESS` keeps the first one given)."""
    common = argparse.ArgumentParser(add_help=False)

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    where = common.add_argument_group("where to send requests")
    where.add_argument(
        "--url",
        metavar="ROOT",
        default=default(None),
        help="root URL of a key API (its routes are under /api/v1), e.g. "
        "https://api-v2.qbraid.com; default: a running Jupyter server with qbraid-keys-ext",
    )
    where.add_argument(
        "--token-file",
        metavar="FILE",
        default=default(None),
        help=f"file holding the account token for --url (default: ${ACCESS_TOKEN_VAR})",
    )
    where.add_argument(
        "--server",
        metavar="URL",
        default=default(None),
        help="which running Jupyter server to use (its URL, as `jupyter server list` shows it)",
    )
    where.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=default(10.0),
        help="seconds to wait for an answer (default 10)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="answer in JSON, for scripts",
    )
    return common


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser of `qbraid-keys`."""
    parser = Parser(
        prog=prog,
        description="Manage and use qBraid API keys from a terminal or a CI job. Only create and "
        "rotate print a key value: once, alone on stdout.",
        parents=[_common(True)],
        epilog="Run `%(prog)s COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    common = [_common(False)]

    def command(name: str, help_text: str, run: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=common)
        p.set_defaults(run=run)
        return p

    command(
        "list", "list the account's keys (name, hint, status, scopes, last used, stored)", cmd_list
    )
    p = command("create", "create a key; prints its value once on stdout", cmd_create)
    p.add_argument("name", metavar="NAME", help="the new key's name (1-64 characters)")
    p.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="a scope to grant (repeat for several): devices:read, jobs:read, jobs:write, "
        "credits:read; default: the read-only ones",
    )
    p.add_argument(
        "--no-store", action="store_true", help="do not keep the value in this machine's keyring"
    )
    p = command(
        "rotate",
        "give a key a new value (the old one stops working at once); prints it once on stdout",
        cmd_rotate,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--no-store", action="store_true", help="do not keep the value in this machine's keyring"
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p = command("revoke", "revoke a key for good (and forget its value here)", cmd_revoke)
    p.add_argument("name", metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p = command("activate", "make an inactive key work again", cmd_activate)
    p.add_argument("name", metavar="NAME")
    p = command("deactivate", "stop a key from working, until it is activated", cmd_deactivate)
    p.add_argument("name", metavar="NAME")
    command("status", "the server, upstream and keyring this command would use", cmd_status)
    p = command(
        "exec",
        "run a command with key NAME in its environment (QBRAID_API_KEY, QBRAID_API_URL) and "
        "exit with its code",
        cmd_exec,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    return parser


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `qbraid-keys`; returns the exit code."""
    launched = Path(sys.argv[0]).name
    prog = "jupyter qbraid-keys" if launched.startswith("jupyter-") else "qbraid-keys"
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    handler = getattr(args, "run", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if handler is cmd_exec:
            return cmd_exec(args)
        return _run(handler(args))
    except CliError as err:
        _note(err.message)
        return err.code
    except KeyApiError as err:
        if err.code == "UNAUTHORIZED" and args.url:
            given = args.token_file or f"${ACCESS_TOKEN_VAR}"
            _note(
                f"The key API at {args.url} refused the account token from {given}: {err.message}"
            )
        else:
            _note(err.message)
        return EXIT_ERROR
    except VaultError as err:
        _note(f"this machine's keyring cannot be used: {err}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `qbraid-keys list | head -1`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
