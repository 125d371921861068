"""Async client for the key API: the one HTTP client every part of the project uses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from tornado.httputil import HTTPHeaders

from .connections import Answer, ConnectionDropped, ConnectionPool, UpstreamTimeout

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""Largest answer accepted from the key API; anything bigger is treated as a fault."""


class KeyApiError(Exception):
    """A failure answer of the key API, or a fault reaching it, as a status, code and sentence."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.detail = dict(detail or {})  # the answer's `error` fields beside `code`

    def envelope(self) -> dict[str, Any]:
        """The error as the key API's JSON envelope."""
        error = {**self.detail, "code": self.code}
        return {"success": False, "message": self.message, "error": error}


URL_SETTING = "c.QbraidKeys.upstream_url"
TIMEOUT_SETTING = "c.QbraidKeys.timeout"


def unavailable(url: str, why: str, setting: str = URL_SETTING) -> KeyApiError:
    """A 502 UPSTREAM_UNAVAILABLE error that says what to check (`setting` names the URL)."""
    return KeyApiError(
        502,
        "UPSTREAM_UNAVAILABLE",
        f"The qBraid key service at {url} {why}. Check that it is running and that "
        f"{setting} points at it.",
    )


class KeyApiClient:
    """Calls one key API (`{base_url}/...`) with fixed credential headers."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
        settings: tuple[str, str] = (URL_SETTING, TIMEOUT_SETTING),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.settings = settings  # what fault messages say to check: URL and timeout settings
        self._pool: ConnectionPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None

    @property
    def origin(self) -> str:
        """Scheme, host and port of the key API, for messages."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def _connections(self) -> ConnectionPool:
        """The keep-alive connections of the running event loop (a stream has one loop)."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            self._pool = ConnectionPool()
            self._pool_loop = loop
        return self._pool

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        envelope: bool = True,
        text: bool = False,
    ) -> Any:
        """Send one request and return the answer's `data`; raise KeyApiError on any failure.

        With `envelope=False` the whole JSON answer is returned (for `/qbraid-keys/status`);
        with `text=True`, a success answer's body as it came, undecoded (see `decode`).
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        if params:
            url = f"{url}?{urlencode(params)}"
        all_headers = {"Accept": "application/json", **self.headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        elif method in ("POST", "PATCH", "PUT"):
            payload = b""
        try:
            response = await self._connections().fetch(
                method,
                url,
                all_headers,
                payload,
                timeout=self.timeout,
                max_body=MAX_ANSWER_BYTES,
            )
        except UpstreamTimeout:
            raise KeyApiError(
                504,
                "UPSTREAM_TIMEOUT",
                f"The qBraid key service at {self.origin} did not answer within "
                f"{self.timeout:g} seconds. Check that it is running and reachable, or raise "
                f"{self.settings[1]}.",
            ) from None
        except ConnectionDropped as err:
            raise self._unavailable(f"dropped the connection ({err})") from None
        except ConnectionRefusedError:
            raise self._unavailable("refused the connection") from None
        except OSError as err:
            raise self._unavailable(f"could not be reached ({err.strerror or err})") from None
        except Exception as err:  # tornado's stream and protocol errors
            raise self._unavailable(f"dropped the connection ({type(err).__name__})") from None
        if text and 200 <= response.code < 300:
            return response.body
        return self._data(response, envelope)

    def decode(self, body: bytes) -> Any:
        """A success answer's body (from `request(..., text=True)`) as its whole JSON answer."""
        return self._data(Answer(200, HTTPHeaders(), body), envelope=False)

    def _unavailable(self, why: str) -> KeyApiError:
        return unavailable(self.origin, why, self.settings[0])

    def _data(self, response: Answer, envelope: bool = True) -> Any:
        if response.code >= 500 and response.code not in (502, 504):
            raise self._unavailable(f"answered with a server error (HTTP {response.code})")
        try:
            answer = json.loads(response.body or b"")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise self._unavailable("answered with something that is not JSON") from None
        if not envelope and response.code < 400:
            return answer
        if response.code in (401, 403) and not (isinstance(answer, dict) and "success" in answer):
            raise KeyApiError(
                response.code,
                "UNAUTHORIZED",
                f"{self.origin} refused the credentials (HTTP {response.code}).",
            )
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise self._unavailable("answered with JSON that is not a key API answer")
        if answer["success"] and response.code < 400:
            return answer.get("data")
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        status = response.code if response.code >= 400 else 502
        raise KeyApiError(
            status,
            str(error.get("code") or "UPSTREAM_UNAVAILABLE"),
            str(answer.get("message") or f"The key service answered HTTP {response.code}."),
            retry_after=response.headers.get("Retry-After"),
            detail={k: v for k, v in error.items() if k != "code"},
        )

    async def scopes(self) -> list[dict[str, str]]:
        """The scopes a key may carry: `[{"name", "description"}]`."""
        return await self.request("GET", "api-key-scopes")

    async def list_keys(self) -> list[dict[str, Any]]:
        """The account's keys, newest first."""
        return await self.request("GET", "api-keys")

    async def create_key(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a key; the answer carries the value once."""
        return await self.request("POST", "api-keys", dict(body))

    async def verify(self, api_key: str, scope: str | None = None) -> dict[str, Any]:
        """Check a key value (counts as one use); returns the user and key it belongs to."""
        params = {"scope": scope} if scope else None
        return await self.request(
            "GET", "users/verify", params=params, headers={"X-API-Key": api_key}
        )
