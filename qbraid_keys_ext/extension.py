"""The server extension: `QbraidKeys` configuration, embedded service start-up, shutdown."""

from __future__ import annotations

import asyncio
import configparser
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode, default

from . import __version__
from .kernel_keys import KernelKeys
from .qbraidlab import QbraidLab, replaced_core
from .upstream import KeyApiClient, KeyApiError
from .vault import Vault

HUB_SERVICE_URL_ENV = "QBRAID_KEYS_HUB_SERVICE_URL"
"""Set for every single-user server by the Hub's config (``c.Spawner.environment``): the key
service's URL. With it, a Lab under JupyterHub uses that service as its Hub user."""

EVENT_SCHEMA = Path(__file__).parent / "event_schemas" / "key" / "v1.yaml"
EVENT_SCHEMA_ID = "https://events.qbraid.com/qbraid_keys_ext/key/v1"
"""The event bus schema of key changes (DESIGN.md, Contract 4); never carries a value."""


def qbraidrc_value(name: str) -> str:
    """A value from `~/.qbraid/qbraidrc` (section `default`), or ''."""
    path = Path(os.environ.get("QBRAID_CONFIG_FILE") or Path.home() / ".qbraid" / "qbraidrc")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except (OSError, configparser.Error):
        return ""
    return parser.get("default", name, fallback="").strip()


class QbraidKeys(ExtensionApp):
    """qBraid API key management: proxies the key API for the sidebar, panel and magic."""

    name = "qbraid_keys_ext"
    load_other_extensions = True

    upstream_url = Unicode(
        "",
        config=True,
        help="Root URL of the key API (its routes live under /api/v1). "
        "Empty (the default) starts the embedded key service on a loopback port.",
    )
    access_token = Unicode(
        config=True,
        help="Account token sent as X-Access-Token to a remote upstream. Defaults to "
        "QBRAID_ACCESS_TOKEN, then the access-token of ~/.qbraid/qbraidrc. Never sent to a "
        "browser or kernel.",
    )
    hub_service_url = Unicode(
        config=True,
        help="Root URL of the key service running as a JupyterHub service. Under JupyterHub "
        "(JUPYTERHUB_API_TOKEN set) and with no upstream_url, the Lab uses it and "
        f"authenticates as its Hub user with that token. Defaults to ${HUB_SERVICE_URL_ENV}, "
        "which the Hub's config sets for every user (c.Spawner.environment).",
    )
    timeout = Float(10.0, config=True, help="Seconds to wait for the key API before giving up.")
    db_path = Unicode(
        config=True,
        help="SQLite database of the embedded key service.",
    )

    @default("access_token")
    def _default_access_token(self) -> str:
        return os.environ.get("QBRAID_ACCESS_TOKEN", "") or qbraidrc_value("access-token")

    @default("hub_service_url")
    def _default_hub_service_url(self) -> str:
        return os.environ.get(HUB_SERVICE_URL_ENV, "")

    @default("db_path")
    def _default_db_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "qbraid_keys" / "keys.sqlite3")

    def initialize_settings(self) -> None:
        """Build the upstream client and keyring vault the handlers share."""
        self.embedded = None
        self._started = asyncio.Lock()
        self.upstream_auth = "token"
        hub_token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        headers: dict[str, str] = {}
        if not self.upstream_url and self.hub_service_url and hub_token:
            # The key service as a JupyterHub service: this Lab's Hub user is the account.
            root = self.hub_service_url.rstrip("/")
            self.upstream_kind = "remote"
            self.upstream_auth = "jupyterhub"
            token = ""
            headers = {"Authorization": f"token {hub_token}"}
            namespace = urlsplit(root).netloc or root
        elif self.upstream_url:
            root = self.upstream_url.rstrip("/")
            self.upstream_kind = "remote"
            token = self.access_token
            namespace = urlsplit(root).netloc or root
        else:
            root = ""
            self.upstream_kind = "embedded"
            token = secrets.token_urlsafe(32)
            namespace = "embedded"
        self.upstream_root = root
        if token:
            headers = {"X-Access-Token": token}
        self.client = KeyApiClient(f"{root}/api/v1", headers, timeout=self.timeout)
        self._embedded_token = token
        self.vault = Vault(namespace)
        self.kernel_keys = KernelKeys(self.serverapp.runtime_dir)
        self.qbraid_lab = QbraidLab(self.serverapp)
        replaced = replaced_core()
        if replaced:
            self.log.warning("qBraid keys: %s", replaced)
        self.serverapp.event_logger.register_event_schema(EVENT_SCHEMA)
        self.settings["qbraid_keys"] = self
        from .presave import register as register_pre_save_hook

        register_pre_save_hook(self.serverapp.contents_manager)
        self.log.info(
            "qBraid keys: upstream %s, keyring backend %s",
            root or "the embedded key service (starts with the server)",
            self.vault.info().get("backend"),
        )

    def initialize_handlers(self) -> None:
        """Register the routes under /qbraid-keys/."""
        from .handlers import routes

        self.handlers.extend(routes())

    async def ensure_upstream(self) -> KeyApiClient:
        """The upstream client, starting the embedded key service on first use."""
        if self.upstream_kind == "embedded" and self.embedded is None:
            async with self._started:
                if self.embedded is None:
                    from .service import KeyService
                    from .service.store import sqlite_path

                    try:
                        sqlite_path(self.db_path)
                    except ValueError as err:
                        raise KeyApiError(
                            502, "UPSTREAM_UNAVAILABLE", f"c.QbraidKeys.db_path: {err}"
                        ) from None
                    Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
                    # The proxy's access lines record what it sends; the service logs the rest.
                    service = KeyService(self.db_path, self._embedded_token, log_proxied=False)
                    url = await service.start("127.0.0.1", 0)
                    self.upstream_root = url
                    self.client.base_url = f"{url}/api/v1"
                    self.embedded = service
                    self.log.info(
                        "qBraid keys: embedded key service started at %s (%s)", url, self.db_path
                    )
        return self.client

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        """Start the embedded service once the server's loop runs, so the first call is quick."""
        try:
            await self.ensure_upstream()
            if self.upstream_kind == "embedded":  # a new port: qbraidrc's url follows it
                self.qbraid_lab.follow_url(self.upstream_root)
        except Exception as err:  # the handlers report it, and try again, on use
            message = err.message if isinstance(err, KeyApiError) else err
            self.log.error(
                "qBraid keys: the embedded key service did not start (%s); each request to "
                "qbraid-keys will try again",
                message,
            )

    async def stop_extension(self) -> None:
        """Stop the embedded service, flushing its usage counts."""
        self.kernel_keys.close()
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None

    def announce(self, action: str, key: dict, kernel_id: str | None = None) -> None:
        """Emit a key change on the event bus and update the kernels that use the key."""
        if kernel_id is None:
            status = {"revoked": "revoked", "deactivated": "inactive", "activated": "active"}
            self.kernel_keys.follow(key, status.get(action))
        data = {
            "action": action,
            "keyId": str(key.get("id") or ""),
            "keyName": str(key.get("name") or ""),
            "hint": str(key.get("hint") or ""),
        }
        if kernel_id is not None:
            data["kernelId"] = kernel_id
        self.serverapp.event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=data)

    def status(self) -> dict:
        """Upstream kind and URL, keyring backend, version (reachability is added by the caller)."""
        upstream = {"kind": self.upstream_kind, "url": self.upstream_root or None}
        if self.upstream_auth == "jupyterhub":  # the key service as a JupyterHub service
            upstream["auth"] = "jupyterhub"
        return {
            "upstream": upstream,
            "keyring": self.vault.info(),
            "version": __version__,
        }
