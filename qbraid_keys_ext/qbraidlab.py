"""qBraid Lab's account key: one of our keys, saved through qBraid Lab's own config route.

qBraid Lab (the `qbraid_lab` server extension of the `qbraid-lab` distribution) keeps the
account key of its Devices and Quantum Jobs panels and of its credentials check in
`~/.qbraid/qbraidrc`, as plain text, and writes it through its route
`POST {base_url}qbraid-lab/qbraid-config` `{"apiKey", "url", "validate"}`. When the user asks
for it ("Use for qBraid Lab"), this server reads the key's value from its own keyring and posts
it to that route itself, over loopback and with the user's own credentials, so the value never
passes through a browser. This is the one exception to "a value lives only in the one-time
answer and the keyring": qbraidrc is qBraid Lab's own store, written only on that request.

Afterwards the value in qbraidrc follows the key: a rotation made through this server writes
the new value there too, a revoke is reported to the user, and after a restart that moved the
embedded key service to another port the `url` in qbraidrc is moved with it.
"""

from __future__ import annotations

import configparser
import hmac
import json
import logging
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .service import keyformat
from .upstream import KeyApiError

if TYPE_CHECKING:  # pragma: no cover
    from .handlers import KeysHandler

CONFIG_ROUTE = "qbraid-lab/qbraid-config"
"""qBraid Lab's route that saves its account key and API URL in qbraidrc."""
QBRAIDRC_SHOWN = "~/.qbraid/qbraidrc"
SAVE_TIMEOUT = 30.0
"""qBraid Lab checks the key (one `users/verify`) before it answers."""
FORWARDED_HEADERS = ("Authorization", "Cookie", "X-XSRFToken", "X-CSRFToken")
"""The user's credentials, passed on to qBraid Lab's route as they came to ours."""

log = logging.getLogger(__name__)


def qbraidrc_path() -> Path:
    """The file qBraid Lab's config route writes (it always uses the home directory)."""
    return Path.home() / ".qbraid" / "qbraidrc"


def read_qbraidrc() -> dict[str, str]:
    """`api-key` and `url` of qbraidrc's `default` section ('' when missing)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(qbraidrc_path())
    except (OSError, configparser.Error):
        return {"api-key": "", "url": ""}
    return {name: parser.get("default", name, fallback="").strip() for name in ("api-key", "url")}


def present(serverapp: Any) -> bool:
    """Whether this server serves qBraid Lab's config route (its `qbraid_lab` extension)."""
    path = url_path_join(serverapp.base_url, CONFIG_ROUTE)
    return _routed(serverapp.web_app.default_router, path)


def _routed(router: Any, path: str) -> bool:
    """Whether a tornado router (or one nested in it) has a rule for `path`."""
    for rule in getattr(router, "rules", []):
        regex = getattr(rule.matcher, "regex", None)
        # the route's own rule, not a catch-all (e.g. the server's 404 for any path)
        if regex is not None and CONFIG_ROUTE in regex.pattern and regex.match(path):
            return True
        if _routed(rule.target, path):
            return True
    return False


def replaced_core() -> str | None:
    """A warning when upstream `jupyterlab` was installed over qBraid Lab's own build."""
    try:
        lab = metadata.version("qbraid-lab")
        upstream = metadata.version("jupyterlab")
    except metadata.PackageNotFoundError:
        return None
    return (
        f"upstream jupyterlab {upstream} is installed over qBraid Lab {lab}'s own build of "
        "JupyterLab (e.g. by `pip install qbraid-keys-ext[lab]`); qBraid Lab's branding is gone. "
        "Restore it: pip uninstall jupyterlab && pip install --force-reinstall --no-deps "
        f"qbraid-lab=={lab}"
    )


class QbraidLab:
    """The link between this server's keys and qBraid Lab's account key."""

    def __init__(self, serverapp: Any) -> None:
        self.serverapp = serverapp
        self.record_path = Path(jupyter_data_dir()) / "qbraid_keys" / "qbraid-lab.json"
        self._seen = False

    @property
    def available(self) -> bool:
        """Whether qBraid Lab runs in this server (once seen, it stays: routes are not removed)."""
        if not self._seen:
            try:
                self._seen = present(self.serverapp)
            except Exception:  # a server without the usual attributes: no qBraid Lab
                return False
        return self._seen

    # -- which key qBraid Lab uses ---------------------------------------------------------

    def current_value(self) -> str:
        """qBraid Lab's account key when it is a key of ours (by format), else ''."""
        value = read_qbraidrc()["api-key"]
        return value if keyformat.has_valid_checksum(value) else ""

    async def uses(self, handler: KeysHandler, key_id: str) -> bool:
        """Whether qBraid Lab's account key is the current value of key `key_id`."""
        if not self.available:
            return False
        current = self.current_value()
        if not current:
            return False
        stored = await handler.in_keyring(handler.keys.vault.fetch, key_id)
        if stored:
            return hmac.compare_digest(stored, current)
        # Not kept here (e.g. pasted into qBraid Lab's own dialog): the hint says.
        client = await handler.upstream()
        key = await client.request("GET", f"api-keys/{quote(key_id, safe='')}")
        return key.get("hint") == keyformat.hint(current)

    async def state(self, handler: KeysHandler) -> dict[str, Any]:
        """What the sidebar shows: is qBraid Lab here, which key it uses (never a value)."""
        if not self.available:
            return {"available": False}
        try:
            await handler.upstream()  # the embedded service's URL is known once it runs
            upstream_url: str | None = self.api_url(handler)
        except KeyApiError:
            upstream_url = None
        rc = read_qbraidrc()
        current = self.current_value()
        answer: dict[str, Any] = {
            "available": True,
            "apiKeySet": bool(rc["api-key"]),
            "keyId": None,
            "hint": keyformat.hint(current) if current else None,
            "url": rc["url"] or None,
            "upstreamUrl": upstream_url,
            "path": QBRAIDRC_SHOWN,
        }
        if current:
            answer["keyId"] = await handler.in_keyring(self._stored_id, handler, current)
        return answer

    def _stored_id(self, handler: KeysHandler, value: str) -> str | None:
        """The id of the key this Lab's keyring holds with this value, or None."""
        vault = handler.keys.vault
        hint = keyformat.hint(value)
        for key_id, record in vault.names().items():
            if record.get("hint") == hint:
                stored = vault.fetch(key_id)
                if stored and hmac.compare_digest(stored, value):
                    return key_id
        return None

    @staticmethod
    def api_url(handler: KeysHandler) -> str:
        """The key API's URL as qbraid-core takes it (`{upstream}/api/v1`)."""
        return f"{handler.keys.upstream_root.rstrip('/')}/api/v1"

    # -- writing through qBraid Lab's route ------------------------------------------------

    async def save(self, handler: KeysHandler, value: str, *, validate: bool) -> None:
        """Post a key value and the key API's URL to qBraid Lab's config route."""
        if not self.available:
            raise KeyApiError(
                404, "QBRAID_LAB_UNAVAILABLE", "qBraid Lab does not run in this Jupyter server."
            )
        url = self.api_url(handler)
        body = json.dumps({"apiKey": value, "url": url, "validate": validate})
        headers = {"Content-Type": "application/json"}
        for name in FORWARDED_HEADERS:
            if name in handler.request.headers:
                headers[name] = handler.request.headers[name]
        token = handler.get_query_argument("token", "")
        if token and "Authorization" not in headers:
            headers["Authorization"] = f"token {token}"
        try:
            response = await AsyncHTTPClient().fetch(
                self._route_url(),
                method="POST",
                body=body,
                headers=headers,
                request_timeout=SAVE_TIMEOUT,
                follow_redirects=False,
                validate_cert=False,  # our own server, on loopback
                raise_error=False,
            )
        except (OSError, HTTPClientError) as err:
            raise self._failed(f"its route could not be reached ({err})", value) from None
        try:
            answer = json.loads(response.body or b"{}")
        except ValueError:
            answer = {}
        if response.code == 200 and answer.get("status") == "success":
            self._remember(url)
            return
        message = answer.get("message") if isinstance(answer, dict) else None
        if response.code in (401, 403):
            message = f"it refused the request ({response.code})"
        elif response.code == 404:
            message = f"its route {CONFIG_ROUTE} was not found"
        raise self._failed(message or f"it answered {response.code}", value)

    def _route_url(self) -> str:
        app = self.serverapp
        if app.sock:
            raise KeyApiError(
                502,
                "QBRAID_LAB_FAILED",
                "qBraid Lab's config route cannot be reached: this server listens on a Unix "
                "socket.",
            )
        ip = app.ip or ""
        if ip in ("", "*", "0.0.0.0", "localhost") or ip.startswith("127."):
            host = "127.0.0.1"
        elif ip in ("::", "::1"):
            host = "[::1]"
        else:  # listening on one address only: that one
            host = f"[{ip}]" if ":" in ip else ip
        scheme = "https" if app.certfile else "http"
        return f"{scheme}://{host}:{app.port}{url_path_join(app.base_url, CONFIG_ROUTE)}"

    @staticmethod
    def _failed(why: str, value: str) -> KeyApiError:
        why = str(why).replace(value, "[hidden]")  # an answer may quote what it was sent
        return KeyApiError(502, "QBRAID_LAB_FAILED", f"qBraid Lab did not take the key: {why}.")

    # -- the embedded service's URL across restarts ----------------------------------------

    def _remember(self, url: str) -> None:
        """Record the URL written to qbraidrc, to move it along when the service moves."""
        try:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            self.record_path.write_text(json.dumps({"url": url}))
        except OSError as err:
            log.warning("qBraid keys: could not record qBraid Lab's key API URL: %s", err)

    def follow_url(self, upstream_root: str) -> None:
        """After a start on another port: move qbraidrc's `url` along, if we wrote it."""
        new = f"{upstream_root.rstrip('/')}/api/v1"
        try:
            old = json.loads(self.record_path.read_text()).get("url")
        except (OSError, ValueError, AttributeError):
            return
        if not old or old == new or read_qbraidrc()["url"] != old:
            return  # never written by us, unchanged, or changed since by the user
        path = qbraidrc_path()
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
            parser.set("default", "url", new)
            with path.open("w") as file:
                parser.write(file)
        except (OSError, configparser.Error) as err:
            log.warning("qBraid keys: could not update the url in %s: %s", path, err)
            return
        self._remember(new)
        log.info("qBraid keys: qBraid Lab's key API URL in %s is now %s", QBRAIDRC_SHOWN, new)
