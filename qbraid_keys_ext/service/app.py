"""Tornado routes of the key API (Contract 1) and the ``KeyService`` that serves them."""

from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from .store import SCOPES, KeyServiceError, KeyStore, quote, validation_error

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_BODY = 64 * 1024
SERVER_MAX_BODY = 1024 * 1024  # larger than MAX_BODY so oversized bodies still get our envelope
ACCOUNT = {
    "userId": "local-user",
    "email": "local@qbraid-keys.invalid",
    "organizationId": "local-org",
    "organizationUserId": "local-org-user",
}
_HTTP_ERRORS = {
    400: ("VALIDATION_ERROR", "The request is malformed."),
    404: ("NOT_FOUND", "There is no such route in the key API."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed on this route."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is larger than 64 KiB."),
}


class BaseHandler(RequestHandler):
    """Envelope answers, body limits and management authentication shared by every route."""

    needs_token = True

    def initialize(self, store: KeyStore, access_token: str) -> None:
        self.store = store
        self.access_token = access_token

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        length = self.request.headers.get("Content-Length", "")
        if len(self.request.body) > MAX_BODY or (length.isdigit() and int(length) > MAX_BODY):
            raise KeyServiceError(413, "PAYLOAD_TOO_LARGE", _HTTP_ERRORS[413][1])
        if self.needs_token:
            given = self.request.headers.get("X-Access-Token", "")
            if not hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), self.access_token.encode("utf-8")
            ):
                raise KeyServiceError(
                    401, "UNAUTHORIZED", "A valid X-Access-Token header is required."
                )

    def json_body(self) -> dict[str, Any]:
        """Return the request body as a JSON object, or raise VALIDATION_ERROR."""
        try:
            body = json.loads(self.request.body)
        except (ValueError, RecursionError):
            raise validation_error("The request body must be valid JSON.") from None
        if not isinstance(body, dict):
            raise validation_error("The request body must be a JSON object.")
        return body

    def reply(self, data: Any, status: int = 200) -> None:
        """Send a success envelope."""
        self.set_status(status)
        self.finish(json.dumps({"success": True, "data": data}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, KeyServiceError):
            status, code, message = exc.status, exc.code, exc.message
        elif status_code in _HTTP_ERRORS:
            status = status_code
            code, message = _HTTP_ERRORS[status_code]
        elif status_code < 500:
            status, code, message = status_code, "BAD_REQUEST", "The request was not accepted."
        else:
            status, code = 500, "INTERNAL_ERROR"
            message = "The key service failed unexpectedly; the error has been logged."
        self.set_status(status)
        if status == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.finish(json.dumps({"success": False, "message": message, "error": {"code": code}}))

    def allowed_methods(self) -> list[str]:
        """The HTTP methods this route implements."""
        return [
            m
            for m in ("GET", "POST", "PATCH", "DELETE")
            if getattr(type(self), m.lower()) is not getattr(RequestHandler, m.lower())
        ]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, KeyServiceError):
            return  # an expected answer, already a sentence for the client
        if isinstance(value, HTTPError):
            log.info("%s %s: HTTP %d", self.request.method, self.request.path, value.status_code)
            return
        log.error(
            "Unexpected error in %s %s",
            self.request.method,
            self.request.path,
            exc_info=(typ, value, tb),
        )


class ScopesHandler(BaseHandler):
    async def get(self) -> None:
        self.reply([{"name": n, "description": d} for n, d in SCOPES.items()])


class KeysHandler(BaseHandler):
    async def get(self) -> None:
        self.reply(self.store.list_keys())

    async def post(self) -> None:
        self.reply(self.store.create(self.json_body()), status=201)


class KeyHandler(BaseHandler):
    async def get(self, key_id: str) -> None:
        self.reply(self.store.get(key_id))

    async def patch(self, key_id: str) -> None:
        self.reply(self.store.update(key_id, self.json_body()))

    async def delete(self, key_id: str) -> None:
        self.store.delete(key_id)
        self.reply({"id": key_id, "deleted": True})


class RotateHandler(BaseHandler):
    async def post(self, key_id: str) -> None:
        self.reply(self.store.rotate(key_id))


class VerifyHandler(BaseHandler):
    needs_token = False

    async def get(self) -> None:
        scopes = self.get_query_arguments("scope")
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise validation_error(
                f"Unknown scope {quote(unknown[0])}; valid scopes are: {', '.join(SCOPES)}."
            )
        key = self.store.verify(self.request.headers.get("X-API-Key", ""), scopes)
        self.reply({**ACCOUNT, "apiKey": {"id": key.id, "name": key.name, "scopes": key.scopes}})


class NoRouteHandler(BaseHandler):
    def prepare(self) -> None:
        raise HTTPError(404)


def make_app(store: KeyStore, access_token: str) -> Application:
    """Return the tornado application serving Contract 1 under ``/api/v1``."""
    args = {"store": store, "access_token": access_token}
    key = r"/api-keys/([^/]+)"
    return Application(
        [
            (API + "/api-key-scopes", ScopesHandler, args),
            (API + "/api-keys", KeysHandler, args),
            (API + key, KeyHandler, args),
            (API + key + "/rotate", RotateHandler, args),
            (API + "/users/verify", VerifyHandler, args),
        ],
        default_handler_class=NoRouteHandler,
        default_handler_args=args,
    )


class KeyService:
    """The embedded key API: a SQLite store served over HTTP in the current event loop."""

    def __init__(
        self, db_path: str | os.PathLike[str], access_token: str, *, flush_interval: float = 2.0
    ) -> None:
        if not access_token:
            raise ValueError("The key service needs a non-empty access token.")
        self.db_path = db_path
        self.url = ""
        self._access_token = access_token
        self._flush_interval = flush_interval
        self._store: KeyStore | None = None
        self._server: HTTPServer | None = None
        self._flusher: PeriodicCallback | None = None

    @property
    def store(self) -> KeyStore:
        """The open store (after ``start``)."""
        if self._store is None:
            raise RuntimeError("The key service is not started.")
        return self._store

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Open the database, listen on host:port in the current loop; return the base URL."""
        self._store = KeyStore(self.db_path)
        try:
            sockets = bind_sockets(port, address=host)
        except OSError:
            self._store.close()
            self._store = None
            raise
        self._server = HTTPServer(
            make_app(self._store, self._access_token), max_body_size=SERVER_MAX_BODY
        )
        self._server.add_sockets(sockets)
        bound = sockets[0].getsockname()[1]
        self._flusher = PeriodicCallback(self.flush, self._flush_interval * 1000)
        self._flusher.start()
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{bound}"
        return self.url

    def flush(self) -> None:
        """Write the usage counted in memory to the database now."""
        if self._store is not None:
            try:
                self._store.flush()
            except Exception:
                log.exception("Could not flush key usage to %s", self.db_path)

    async def stop(self) -> None:
        """Stop listening, flush usage and close the database."""
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
        if self._store is not None:
            self._store.close()
            self._store = None
