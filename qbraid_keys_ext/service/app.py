"""Tornado routes of the key API (Contract 1) and the ``KeyService`` that serves them."""

from __future__ import annotations

import functools
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

from .accounts import LOCAL_IDENTITY, Authenticator, identity
from .backends import AccountKeys, Backend, SqliteBackend, open_backend
from .jobs import DEFAULT_CREDITS, QuantumJobs
from .ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW, FailureLimiter
from .store import (
    ACCOUNT as LOCAL_ACCOUNT,
)
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
ACCOUNT = LOCAL_IDENTITY  # what verify says about the local account (kept for importers)
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
    """Envelope answers, body limits and management authentication shared by every route.

    A management request is authenticated by ``prepare`` and works on one account
    (``self.keys``): the account token's (``X-Access-Token``) or, as a JupyterHub service,
    the Hub user's (``Authorization: token ...``). See ``accounts.py``.
    """

    needs_token = True
    max_body = MAX_BODY

    def initialize(self, backend: Backend, auth: Authenticator) -> None:
        self.backend = backend
        self.auth = auth
        self.account = LOCAL_ACCOUNT

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        length = self.request.headers.get("Content-Length", "")
        limit = self.max_body
        if len(self.request.body) > limit or (length.isdigit() and int(length) > limit):
            raise KeyServiceError(
                413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {limit // 1024} KiB."
            )
        if self.needs_token:
            account = await self.auth.account(self.request.headers)
            if account is None:
                await self.refuse(KeyServiceError(401, "UNAUTHORIZED", self.auth.missing))
            self.account = account

    @property
    def keys(self) -> AccountKeys:
        """The keys of the account this request works on."""
        return self.backend.account(self.account)

    async def refuse(self, error: KeyServiceError) -> NoReturn:
        """Raise an authentication failure: counted per client; 429 once over the limit.

        Only failures reach here, so a valid key or token always gets through, even from a
        client that is limited (every kernel of the embedded service shares 127.0.0.1, and
        224 random bits leave nothing to guess). Failures answered with 429 are not counted,
        so ``Retry-After`` is exact.
        """
        wait = await self.backend.limits.fail(self.request.remote_ip or "")
        if wait is not None:
            raise RateLimited(wait)
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
            self.reply(await self.keys.list_keys())  # as before pages existed: every key object
            return
        keys, following, total = await self.keys.list_page(
            check_limit(given["limit"] if given["limit"] is not None else DEFAULT_PAGE),
            given["cursor"] or None,
            name=given["name"],
            q=given["q"] or None,
        )
        self.reply_page(keys, following, total)

    async def post(self) -> None:
        self.reply(await self.keys.create(self.json_body(), self.actor), status=201)


class KeyHandler(BaseHandler):
    async def get(self, key_id: str) -> None:
        self.reply(await self.keys.get(key_id))

    async def patch(self, key_id: str) -> None:
        self.reply(await self.keys.update(key_id, self.json_body(), self.actor))

    async def delete(self, key_id: str) -> None:
        await self.keys.delete(key_id, self.actor)
        self.reply({"id": key_id, "deleted": True})


class RotateHandler(BaseHandler):
    async def post(self, key_id: str) -> None:
        self.reply(await self.keys.rotate(key_id, self.actor))


class EventsHandler(BaseHandler):
    async def get(self) -> None:
        limit = check_limit(self.get_query_argument("limit", "50"))
        events, following, total = await self.keys.list_events(
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
            key = await self.backend.verify(self.request.headers.get("X-API-Key", ""), scopes)
        except KeyServiceError as err:
            if err.status != 401:
                raise
            await self.refuse(err)
        self.finish(verified_answer(key.id, key.name, tuple(key.scopes), key.account))


@functools.lru_cache(maxsize=1024)
def verified_answer(
    key_id: str, name: str, scopes: tuple[str, ...], account: str = LOCAL_ACCOUNT
) -> str:
    """The encoded success answer of verify for one key (the same text for every use)."""
    api_key = {"id": key_id, "name": name, "scopes": list(scopes)}
    return json.dumps({"success": True, "data": {**identity(account), "apiKey": api_key}})


class NoRouteHandler(BaseHandler):
    async def prepare(self) -> None:
        raise HTTPError(404)


def log_unproxied(handler: RequestHandler) -> None:
    """Access log of an embedded service: one line per request the proxy did not make.

    Requests made with the account token come through the Jupyter server's proxy, whose own
    access line already records them; the rest (a kernel's verify, a failed token) are
    logged here, at the levels Jupyter uses (success at debug).
    """
    if isinstance(handler, BaseHandler) and handler.auth.has_account_token(handler.request.headers):
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
    backend: Backend | KeyStore,
    auth: Authenticator | str,
    limiter: FailureLimiter | None = None,
    jobs: QuantumJobs | None = None,
    *,
    log_proxied: bool = True,
    prefix: str = "",
) -> Application:
    """Return the tornado application serving Contract 1 under ``{prefix}/api/v1``.

    ``backend`` may be a ``KeyStore`` (SQLite, with ``limiter``'s rate limit) and ``auth`` an
    account token. ``prefix`` (a JupyterHub service's ``/services/<name>``) serves the routes
    there too, for requests that come through the Hub's proxy.
    ``log_proxied=False`` leaves requests made with the account token out of the access log
    (a proxy in front of the service logs them).
    """
    from . import runtime as rt  # its handlers extend BaseHandler, defined above

    if isinstance(backend, KeyStore):
        backend = SqliteBackend(backend, limiter if limiter is not None else FailureLimiter())
    if isinstance(auth, str):
        auth = Authenticator(auth)
    args = {"backend": backend, "auth": auth}
    run = {**args, "jobs": jobs}
    key = r"/api-keys/([^/]+)"
    job = r"/jobs/([^/]+)"
    routes = []
    for root in dict.fromkeys(["", prefix.rstrip("/")]):
        api = root + API
        routes += [
            (api + "/users/verify", VerifyHandler, args),  # first: the hot path
            (api + "/api-key-scopes", ScopesHandler, args),
            (api + "/api-keys", KeysHandler, args),
            (api + key, KeyHandler, args),
            (api + key + "/rotate", RotateHandler, args),
            (api + "/events", EventsHandler, args),
        ]
        if jobs is None:
            continue
        routes += [  # Contract 5: qBraid's runtime API, each route with its scope
            (api + "/devices", rt.DevicesHandler, run),  # devices:read
            (api + r"/devices/([^/]+)", rt.DeviceHandler, run),  # devices:read
            (api + "/jobs", rt.JobsHandler, run),  # GET jobs:read, POST jobs:write
            (api + job, rt.JobHandler, run),  # jobs:read
            (api + job + "/result", rt.JobResultHandler, run),  # jobs:read
            (api + job + "/program", rt.JobProgramHandler, run),  # jobs:read
            (api + job + "/cancel", rt.JobCancelHandler, run),  # jobs:write
            (api + "/billing/credits/balance", rt.CreditsHandler, run),  # credits:read
        ]
    return Application(
        routes,
        default_handler_class=NoRouteHandler,
        default_handler_args=args,
        **({} if log_proxied else {"log_function": log_unproxied}),
    )


class KeyService:
    """The key API served over HTTP in the current event loop, on SQLite or PostgreSQL.

    ``db_path`` is a SQLite file (the embedded service's) or a ``postgresql://`` URL, which
    any number of service processes may share (see ``pgstore.py``).

    Usage counted on verify is flushed every ``flush_interval`` seconds; ``0`` writes it on
    every verify instead (slower; kept to measure what batching buys). A crash of the process
    (e.g. SIGKILL) loses at most the uses counted since the last flush.

    Authentication failures (wrong key on verify, wrong token on management routes) are
    limited per client IP: ``rate_limit`` per ``rate_window`` seconds, then 429 RATE_LIMITED
    with ``Retry-After`` (``rate_limit=0`` turns this off). On PostgreSQL the count is shared
    by every process.

    Management requests authenticate with ``access_token`` (the account ``local``) and, given
    JupyterHub's ``hub_auth``, with a Hub user's API token (that user's account; ``prefix`` is
    then the service's ``/services/<name>/``). See ``accounts.py``.

    ``log_proxied=False`` (the embedded service) logs only the requests that did not come
    through the Jupyter server's proxy, which logs its own.

    Quantum jobs (Contract 5) run in ``job_workers`` simulator processes, started when
    devices are first listed or a job comes; each account starts with ``credits`` credits.
    Jobs and credits are stored beside the keys (SQLite or PostgreSQL); on PostgreSQL each
    process runs the jobs it accepted and answers for every job (see ``pgjobstore.py``).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        access_token: str = "",
        *,
        hub_auth: Any = None,
        prefix: str = "",
        flush_interval: float = 2.0,
        rate_limit: int = DEFAULT_LIMIT,
        rate_window: float = DEFAULT_WINDOW,
        log_proxied: bool = True,
        credits: Decimal | float | str = DEFAULT_CREDITS,
        job_workers: int | None = None,
    ) -> None:
        if not access_token and hub_auth is None:
            raise ValueError("The key service needs a non-empty access token.")
        self.db_path = db_path
        self.url = ""
        self.auth = Authenticator(access_token, hub_auth)
        self._prefix = prefix
        self._flush_interval = flush_interval
        self._log_proxied = log_proxied
        self.limiter = FailureLimiter(rate_limit, rate_window)
        self._backend: Backend | None = None
        self._credits = Decimal(str(credits))
        self.jobs = QuantumJobs(workers=job_workers)
        self._server: HTTPServer | None = None
        self._flusher: PeriodicCallback | None = None

    @property
    def backend(self) -> Backend:
        """The open store, as the routes use it (after ``start``)."""
        if self._backend is None:
            raise RuntimeError("The key service is not started.")
        return self._backend

    @property
    def store(self) -> Any:
        """The open store: a ``KeyStore`` on SQLite (synchronous), else the backend."""
        backend = self.backend
        return backend.store if isinstance(backend, SqliteBackend) else backend

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Open the database, listen on host:port in the current loop; return the base URL."""
        self._backend = await open_backend(
            self.db_path, write_through=self._flush_interval <= 0, limiter=self.limiter
        )
        sockets = []
        try:
            sockets = bind_sockets(port, address=host)
            # queues the jobs left pending; no simulator process until a job runs
            await self.jobs.start(await self._backend.open_jobs(self._credits))
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.jobs.stop()
            await self._backend.close()
            self._backend = None
            raise
        self._server = HTTPServer(
            make_app(
                self._backend,
                self.auth,
                jobs=self.jobs,
                log_proxied=self._log_proxied,
                prefix=self._prefix,
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

    async def flush(self) -> None:
        """Write the usage counted in memory to the database now."""
        if self._backend is not None:
            try:
                await self._backend.flush()
                await self._backend.limits.prune()
            except Exception:
                log.exception("Could not flush key usage to the %s store", self._backend.kind)

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
        if self._backend is not None:
            await self._backend.close()
            self._backend = None
