"""Tornado routes of the key API (Contract 1) and the ``KeyService`` that serves them."""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
from decimal import Decimal
from typing import Any, NoReturn

from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.log import access_log
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from .jobs import DEFAULT_CREDITS, QuantumJobs
from .ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW, FailureLimiter
from .store import (
    KeyServiceError,
    KeyStore,
    check_known_scopes,
    check_limit,
    scope_objects,
    validation_error,
)

log = logging.getLogger(__name__)

API = "/api/v1"
ACTOR_HEADER = "X-Qbraid-Actor"
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


class RateLimited(KeyServiceError):
    """429 RATE_LIMITED: too many authentication failures from one client."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "RATE_LIMITED",
            "Too many failed authentication attempts from this address; "
            f"try again in {retry_after} seconds.",
        )
        self.retry_after = retry_after


def implemented_methods(handler: type, base: type = RequestHandler) -> list[str]:
    """The HTTP methods a handler class implements beyond `base`'s (a 405's `Allow`)."""
    return [
        m
        for m in ("GET", "POST", "PATCH", "PUT", "DELETE")
        if getattr(handler, m.lower()) is not getattr(base, m.lower())
    ]


class BaseHandler(RequestHandler):
    """Envelope answers, body limits and management authentication shared by every route."""

    needs_token = True
    max_body = MAX_BODY

    def initialize(self, store: KeyStore, access_token: str, limiter: FailureLimiter) -> None:
        self.store = store
        self.access_token = access_token
        self.limiter = limiter

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        length = self.request.headers.get("Content-Length", "")
        limit = self.max_body
        if len(self.request.body) > limit or (length.isdigit() and int(length) > limit):
            raise KeyServiceError(
                413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit // 1024} KiB."
            )
        if self.needs_token:
            given = self.request.headers.get("X-Access-Token", "")
            if not hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), self.access_token.encode("utf-8")
            ):
                self.refuse(
                    KeyServiceError(
                        401, "UNAUTHORIZED", "A valid X-Access-Token header is required."
                    )
                )

    def refuse(self, error: KeyServiceError) -> NoReturn:
        """Raise an authentication failure: counted per client; 429 once over the limit.

        Only failures reach here, so a valid key or token always gets through, even from a
        client that is limited (every kernel of the embedded service shares 127.0.0.1, and
        224 random bits leave nothing to guess). Failures answered with 429 are not counted,
        so ``Retry-After`` is exact.
        """
        client = self.request.remote_ip or ""
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise RateLimited(wait)
        self.limiter.failed(client)
        raise error

    def json_body(self) -> dict[str, Any]:
        """Return the request body as a JSON object, or raise VALIDATION_ERROR."""
        try:
            body = json.loads(self.request.body)
        except (ValueError, RecursionError):
            raise validation_error("The request body must be valid JSON.") from None
        if not isinstance(body, dict):
            raise validation_error("The request body must be a JSON object.")
        return body

    @property
    def actor(self) -> str:
        """Who makes this change, for the audit trail (the caller's ``X-Qbraid-Actor``)."""
        return self.request.headers.get(ACTOR_HEADER, "")

    def reply(self, data: Any, status: int = 200, **extra: Any) -> None:
        """Send a success envelope (``extra`` fields go beside ``data``)."""
        self.set_status(status)
        self.finish(json.dumps({"success": True, "data": data, **extra}))

    def reply_page(self, data: list[Any], following: str | None, total: int) -> None:
        """Send one page: `data` and, beside it, `page: {"next", "total"}`."""
        page = {"next": following, "total": total}
        self.finish(json.dumps({"success": True, "data": data, "page": page}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        detail: dict[str, Any] = {}
        if isinstance(exc, KeyServiceError):
            status, code, message, detail = exc.status, exc.code, exc.message, exc.detail
        elif status_code in _HTTP_ERRORS:
            status = status_code
            code, message = _HTTP_ERRORS[status_code]
        elif status_code < 500:
            status, code, message = status_code, "BAD_REQUEST", "The request was not accepted."
        else:
            status, code = 500, "INTERNAL_ERROR"
            message = "The key service failed unexpectedly; the error has been logged."
        self.set_status(status)
        if isinstance(exc, RateLimited):
            self.set_header("Retry-After", str(exc.retry_after))
        if status == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        error = {"code": code, **detail}
        self.finish(json.dumps({"success": False, "message": message, "error": error}))

    def allowed_methods(self) -> list[str]:
        """The HTTP methods this route implements."""
        return implemented_methods(type(self))

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
        self.reply(scope_objects())


PAGE_ARGUMENTS = ("limit", "cursor", "name", "q")
"""Query arguments of `GET /api-keys` that ask for one page (without any: every key)."""
DEFAULT_PAGE = 50


class KeysHandler(BaseHandler):
    async def get(self) -> None:
        given = {n: self.get_query_argument(n, None) for n in PAGE_ARGUMENTS}
        if all(v is None for v in given.values()):
            self.reply(self.store.list_keys())  # as before pages existed: every key object
            return
        keys, following, total = self.store.list_page(
            check_limit(given["limit"] if given["limit"] is not None else DEFAULT_PAGE),
            given["cursor"] or None,
            name=given["name"],
            q=given["q"] or None,
        )
        self.reply_page(keys, following, total)

    async def post(self) -> None:
        self.reply(self.store.create(self.json_body(), self.actor), status=201)


class KeyHandler(BaseHandler):
    async def get(self, key_id: str) -> None:
        self.reply(self.store.get(key_id))

    async def patch(self, key_id: str) -> None:
        self.reply(self.store.update(key_id, self.json_body(), self.actor))

    async def delete(self, key_id: str) -> None:
        self.store.delete(key_id, self.actor)
        self.reply({"id": key_id, "deleted": True})


class RotateHandler(BaseHandler):
    async def post(self, key_id: str) -> None:
        self.reply(self.store.rotate(key_id, self.actor))


class EventsHandler(BaseHandler):
    async def get(self) -> None:
        limit = check_limit(self.get_query_argument("limit", "50"))
        events, following, total = self.store.list_events(
            self.get_query_argument("keyId", None) or None,
            limit,
            self.get_query_argument("cursor", None) or None,
        )
        self.reply_page(events, following, total)


class VerifyHandler(BaseHandler):
    needs_token = False

    async def get(self) -> None:
        scopes = self.get_query_arguments("scope")
        check_known_scopes(scopes)
        try:
            key = self.store.verify(self.request.headers.get("X-API-Key", ""), scopes)
        except KeyServiceError as err:
            if err.status != 401:
                raise
            self.refuse(err)
        self.finish(verified_answer(key.id, key.name, tuple(key.scopes)))


@functools.lru_cache(maxsize=1024)
def verified_answer(key_id: str, name: str, scopes: tuple[str, ...]) -> str:
    """The encoded success answer of verify for one key (the same text for every use)."""
    api_key = {"id": key_id, "name": name, "scopes": list(scopes)}
    return json.dumps({"success": True, "data": {**ACCOUNT, "apiKey": api_key}})


class NoRouteHandler(BaseHandler):
    def prepare(self) -> None:
        raise HTTPError(404)


def log_unproxied(handler: RequestHandler) -> None:
    """Access log of an embedded service: one line per request the proxy did not make.

    Requests made with the account token come through the Jupyter server's proxy, whose own
    access line already records them; the rest (a kernel's verify, a failed token) are
    logged here, at the levels Jupyter uses (success at debug).
    """
    if isinstance(handler, BaseHandler):
        given = handler.request.headers.get("X-Access-Token", "")
        if hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), handler.access_token.encode("utf-8")
        ):
            return
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    access_log.log(
        level,
        "qBraid key service: %d %s %s (%s) %.2fms",
        status,
        handler.request.method,
        handler.request.path,
        handler.request.remote_ip,
        1000.0 * handler.request.request_time(),
    )


def make_app(
    store: KeyStore,
    access_token: str,
    limiter: FailureLimiter | None = None,
    jobs: QuantumJobs | None = None,
    *,
    log_proxied: bool = True,
) -> Application:
    """The tornado application serving Contract 1, and Contract 5 given ``jobs``, at /api/v1.

    ``log_proxied=False`` leaves requests made with the account token out of the access log
    (a proxy in front of the service logs them).
    """
    from . import runtime as rt  # its handlers extend BaseHandler, defined above

    args = {
        "store": store,
        "access_token": access_token,
        "limiter": limiter if limiter is not None else FailureLimiter(),
    }
    key = r"/api-keys/([^/]+)"
    routes = [
        (API + "/users/verify", VerifyHandler, args),  # first: the hot path
        (API + "/api-key-scopes", ScopesHandler, args),
        (API + "/api-keys", KeysHandler, args),
        (API + key, KeyHandler, args),
        (API + key + "/rotate", RotateHandler, args),
        (API + "/events", EventsHandler, args),
    ]
    if jobs is not None:  # Contract 5: qBraid's runtime API, each route with its scope
        run = {**args, "jobs": jobs}
        job = r"/jobs/([^/]+)"
        routes += [
            (API + "/devices", rt.DevicesHandler, run),  # devices:read
            (API + r"/devices/([^/]+)", rt.DeviceHandler, run),  # devices:read
            (API + "/jobs", rt.JobsHandler, run),  # GET jobs:read, POST jobs:write
            (API + job, rt.JobHandler, run),  # jobs:read
            (API + job + "/result", rt.JobResultHandler, run),  # jobs:read
            (API + job + "/program", rt.JobProgramHandler, run),  # jobs:read
            (API + job + "/cancel", rt.JobCancelHandler, run),  # jobs:write
            (API + "/billing/credits/balance", rt.CreditsHandler, run),  # credits:read
        ]
    return Application(
        routes,
        default_handler_class=NoRouteHandler,
        default_handler_args=args,
        **({} if log_proxied else {"log_function": log_unproxied}),
    )


class KeyService:
    """The embedded key API: a SQLite store served over HTTP in the current event loop.

    Usage counted on verify is flushed every ``flush_interval`` seconds; ``0`` writes it on
    every verify instead (slower; kept to measure what batching buys). A crash of the process
    (e.g. SIGKILL) loses at most the uses counted since the last flush.

    Authentication failures (wrong key on verify, wrong token on management routes) are
    limited per client IP: ``rate_limit`` per ``rate_window`` seconds, then 429 RATE_LIMITED
    with ``Retry-After`` (``rate_limit=0`` turns this off).

    ``log_proxied=False`` (the embedded service) logs only the requests that did not come
    through the Jupyter server's proxy, which logs its own.

    Quantum jobs (Contract 5) run in ``job_workers`` simulator processes, started when
    devices are first listed or a job comes; the account starts with ``credits`` credits.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        access_token: str,
        *,
        flush_interval: float = 2.0,
        rate_limit: int = DEFAULT_LIMIT,
        rate_window: float = DEFAULT_WINDOW,
        log_proxied: bool = True,
        credits: Decimal | float | str = DEFAULT_CREDITS,
        job_workers: int | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("The key service needs a non-empty access token.")
        self.db_path = db_path
        self.url = ""
        self._access_token = access_token
        self._flush_interval = flush_interval
        self._log_proxied = log_proxied
        self.limiter = FailureLimiter(rate_limit, rate_window)
        self._store: KeyStore | None = None
        self.jobs = QuantumJobs(
            db_path, identity=ACCOUNT, initial_credits=credits, workers=job_workers
        )
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
        self._store = KeyStore(self.db_path, write_through=self._flush_interval <= 0)
        try:
            sockets = bind_sockets(port, address=host)
        except OSError:
            self._store.close()
            self._store = None
            raise
        await self.jobs.start()  # queues the jobs left pending; no process until a job runs
        self._server = HTTPServer(
            make_app(
                self._store,
                self._access_token,
                self.limiter,
                self.jobs,
                log_proxied=self._log_proxied,
            ),
            max_body_size=SERVER_MAX_BODY,
        )
        self._server.add_sockets(sockets)
        bound = sockets[0].getsockname()[1]
        if self._flush_interval > 0:  # 0 or less: usage written on every verify
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
        await self.jobs.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
