"""A stand-in for qBraid Lab's server extension, for in-process tests (`tests/test_qbraidlab.py`).

It serves what qbraid-lab 4.6.13's `qbraid_lab` extension serves for its account key, as its
installed source shows (`qbraid_lab/handlers/auth.py`), written here from that description:

- `POST {base_url}qbraid-lab/qbraid-config` `{"apiKey"?, "url"?, "validate"?}`: writes `api-key`
  and `url` into the `default` section of `~/.qbraid/qbraidrc` (a blank or missing `apiKey`
  leaves the key alone), then, unless `validate` is false, checks the saved credentials with
  one `GET {url}/users/verify` (`X-API-Key`). Answers `{"status": "success", "config": {...}}`,
  the key reported only as `apiKeySet` / `apiKeyLast8`, or 500 `{"status": "error", "message"}`.
- `GET {base_url}qbraid-lab/validate-config`: 200 when the saved key verifies, 404 without
  one, 401 when it is refused.

The real extension is tested in `tests/browser/test_qbraid_lab.py`, in its own environment.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import urllib.error
import urllib.request
from pathlib import Path

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

received: list[dict] = []
"""What each POST to qbraid-config received, without the key: auth forwarded, url, validate."""
failures: list[str] = []
"""A test puts a message here to make the next POST fail the way qBraid Lab's does."""


def rc_path() -> Path:
    return Path.home() / ".qbraid" / "qbraidrc"


def read_rc() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(rc_path())
    return dict(parser["default"]) if parser.has_section("default") else {}


def verify(url: str, api_key: str) -> int:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/users/verify", headers={"X-API-Key": api_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class ConfigHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        rc = read_rc()
        key = rc.get("api-key", "")
        self.finish(json.dumps({"apiKeySet": bool(key), "url": rc.get("url")}))

    @tornado.web.authenticated
    async def post(self) -> None:
        data = json.loads(self.request.body)
        api_key = data.get("apiKey") or None
        received.append(
            {
                "authorization": "Authorization" in self.request.headers,
                "url": data.get("url"),
                "validate": data.get("validate", True),
                "hasKey": api_key is not None,
            }
        )
        if failures:
            self.set_status(500)
            self.finish(json.dumps({"status": "error", "message": failures.pop()}))
            return
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(rc_path())
        if not parser.has_section("default"):
            parser.add_section("default")
        if api_key is not None:
            parser.set("default", "api-key", api_key)
        if data.get("url") is not None:
            parser.set("default", "url", data["url"])
        rc_path().parent.mkdir(parents=True, exist_ok=True)
        with rc_path().open("w") as file:
            parser.write(file)
        rc = read_rc()
        if data.get("validate", True):
            code = await asyncio.to_thread(verify, rc.get("url", ""), rc.get("api-key", ""))
            if code != 200:
                self.set_status(500)
                message = f"qBraid credentials missing or expired ({code})."
                self.finish(json.dumps({"status": "error", "message": message}))
                return
        config = {"apiKeySet": bool(rc.get("api-key")), "url": rc.get("url")}
        self.finish(json.dumps({"status": "success", "config": config}))


class ValidateHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        rc = read_rc()
        if not rc.get("api-key"):
            self.set_status(404)
            self.finish(json.dumps({"status": "error", "message": "No API key configured"}))
            return
        code = await asyncio.to_thread(verify, rc.get("url", ""), rc["api-key"])
        self.set_status(200 if code == 200 else 401)
        self.finish(json.dumps({"status": "valid" if code == 200 else "invalid"}))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tests.qbraid_lab_stub"}]


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "qbraid-lab", "qbraid-config"), ConfigHandler),
            (url_path_join(base, "qbraid-lab", "validate-config"), ValidateHandler),
        ],
    )
