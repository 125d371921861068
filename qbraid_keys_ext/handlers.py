"""Proxy handlers: `{base_url}qbraid-keys/...`, the one door every UI goes through."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler

from . import listing
from .qbraidlab import QBRAIDRC_SHOWN
from .service import keyformat
from .service.app import implemented_methods
from .service.store import unknown_fields_message
from .upstream import KeyApiClient, KeyApiError
from .vault import VaultError

NAMESPACE = "qbraid-keys"
MAX_BODY_BYTES = 64 * 1024
KEYRING_TIMEOUT = 5.0


def bad_request(message: str) -> KeyApiError:
    """A 400 VALIDATION_ERROR."""
    return KeyApiError(400, "VALIDATION_ERROR", message)


class _AccessLine(logging.LoggerAdapter):
    """The server's log, for one handler: its access line names an expected failure.

    jupyter_server writes each request's access line through `handler.log`; a failure this
    extension expected (a key API error, a keyring fault) is added to that line, so the
    request appears once in the log, with its reason, instead of a second warning line.
    """

    def __init__(self, logger: logging.Logger, handler: KeysHandler) -> None:
        super().__init__(logger, {})
        self.handler = handler

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        problem = self.handler.problem
        if problem is not None and isinstance(msg, str):
            if msg.startswith("{"):
                return  # jupyter_server's header dump after a 5xx: not a bug of ours
            if msg.startswith(f"{problem.status} "):
                msg = f"{msg} {problem.code}: {problem.message}"
        super().log(level, msg, *args, **kwargs)


class KeysHandler(APIHandler):
    """Shared base: the extension object, JSON envelopes, error mapping, keyring calls."""

    problem: KeyApiError | None = None
    """The expected failure this request answered with, for its access line."""

    @property
    def log(self) -> logging.LoggerAdapter:
        """The server's log, whose access line for this request names an expected failure."""
        return _AccessLine(super().log, self)

    @property
    def keys(self):
        """The QbraidKeys extension app (client, vault, configuration)."""
        return self.settings["qbraid_keys"]

    async def upstream(self) -> KeyApiClient:
        """The key API client (the embedded service is started on first use)."""
        return await self.keys.ensure_upstream()

    @property
    def actor(self) -> dict[str, str]:
        """The header that names who makes a change, for the key service's audit trail."""
        user = getattr(self.current_user, "username", None) or "user"
        return {"X-Qbraid-Actor": f"{user} (Jupyter server)"}

    def compute_etag(self) -> str | None:
        """No ETag: answers about keys change with every use and are never cached, and
        hashing each answer (27 kB for a list of 20 keys) would only cost time."""
        return None

    def answer(self, data: Any, status: int = 200) -> None:
        """Write a success envelope."""
        self.set_status(status)
        # The data comes from json.loads of the upstream answer: no cycles to look for.
        self.finish(json.dumps({"success": True, "data": data}, check_circular=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every failure is a JSON envelope with a sentence, never a traceback."""
        err = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(err, KeyApiError):
            problem = err
        elif isinstance(err, VaultError):
            problem = KeyApiError(503, "KEYRING_UNAVAILABLE", str(err))
        elif isinstance(err, tornado.web.HTTPError) and err.status_code < 500:
            code = {
                401: "UNAUTHORIZED",
                403: "FORBIDDEN",
                404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED",
            }.get(err.status_code, "VALIDATION_ERROR")
            problem = KeyApiError(err.status_code, code, err.log_message or self._reason)
        else:
            problem = KeyApiError(
                500, "INTERNAL_ERROR", "The qBraid keys extension failed; see the server log."
            )
        if problem.code != "INTERNAL_ERROR":
            self.problem = problem
        self.set_status(problem.status)
        if problem.retry_after:
            self.set_header("Retry-After", problem.retry_after)
        if problem.status == 405:
            self.set_header("Allow", ", ".join(implemented_methods(type(self), KeysHandler)))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(problem.envelope()))

    def log_exception(self, typ, value, tb) -> None:
        """Expected failures go into the request's access line; only bugs get a traceback."""
        expected = isinstance(value, KeyApiError | VaultError) or (
            isinstance(value, tornado.web.HTTPError) and value.status_code < 500
        )
        if not expected:
            super().log_exception(typ, value, tb)

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object, or a clear 400/413."""
        body = self.request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise KeyApiError(413, "PAYLOAD_TOO_LARGE", "The request body is larger than 64 KiB.")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object.")
        return data

    async def in_keyring(self, fn, *args):
        """Run a blocking keyring call off the event loop, bounded in time."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(None, fn, *args), timeout=KEYRING_TIMEOUT
            )
        except asyncio.TimeoutError:
            raise VaultError(
                f"The keyring did not answer within {KEYRING_TIMEOUT:g} seconds (is it locked?)."
            ) from None

    async def with_stored(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mark each key object with whether this Lab's keyring holds its value."""
        held = await self.stored_ids(keys)
        for key in keys:
            key["stored"] = key.get("id") in held
        return keys

    async def stored_ids(self, keys: list[dict[str, Any]]) -> set[str]:
        """The ids of these keys whose values this Lab's keyring holds.

        One keyring read for the whole list (a page of it), which also gives the name index:
        only when that is out of date is it written (renames, values stored before it).
        """
        vault = self.keys.vault
        ids = [k.get("id") for k in keys]
        try:
            # Our file keyring is read without its lock, so the hot list path reads it inline;
            # writes (which may wait for a kernel's lock) always go through in_keyring.
            held, index = (
                vault.listing(ids) if vault.local else await self.in_keyring(vault.listing, ids)
            )
        except VaultError as err:
            self.log.warning("qBraid keys: %s", err)
            return set()
        if vault.index_outdated(keys, held, index):
            await self.keep_names(keys, held, index)
        return held

    async def keep_names(
        self, keys: list[dict[str, Any]], held: set[str], index: dict[str, Any]
    ) -> None:
        """Keep the keyring's name index (for headless kernels and the CLI) in line with `keys`."""
        try:
            await self.in_keyring(self.keys.vault.reindex, keys, held, index)
        except VaultError as err:
            self.log.warning("qBraid keys: the key names were not updated: %s", err)

    async def keep_value(self, key: dict[str, Any]) -> dict[str, Any]:
        """Store a one-time value (and its name) in the keyring; the answer says if that worked."""
        try:
            await self.in_keyring(self.keys.vault.store, key["id"], key["value"], key.get("name"))
            key["stored"] = True
        except VaultError as err:
            key["stored"] = False
            key["storeError"] = str(err)
        return key

    async def qbraid_lab_uses(self, key_id: str) -> bool:
        """Whether qBraid Lab's account key (qbraidrc) is this key; False when unsure."""
        try:
            return await self.keys.qbraid_lab.uses(self, key_id)
        except (KeyApiError, VaultError) as err:
            self.log.warning("qBraid keys: could not tell whether qBraid Lab uses it: %s", err)
            return False


def with_store_field(err: KeyApiError, body: dict[str, Any]) -> KeyApiError:
    """An upstream's unknown-field error for a create, naming `store` among the accepted fields."""
    allowed = err.detail.get("allowedFields")
    if err.code != "VALIDATION_ERROR" or not isinstance(allowed, list) or "store" in allowed:
        return err
    allowed = [*map(str, allowed), "store"]
    return KeyApiError(
        err.status,
        err.code,
        unknown_fields_message([f for f in body if f not in allowed], allowed),
        detail={**err.detail, "allowedFields": allowed},
    )


def key_path(key_id: str, *rest: str) -> str:
    """The upstream path of a key, with the id safely quoted."""
    return "/".join(["api-keys", quote(key_id, safe=""), *rest])


class ScopesHandler(KeysHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        client = await self.upstream()
        self.answer(await client.scopes())


PAGE_ARGUMENTS = ("limit", "cursor", "name", "q")
"""`GET api-keys` query arguments passed to the key API (any of them: one page)."""


class KeyListHandler(KeysHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        params = {
            name: value
            for name in PAGE_ARGUMENTS
            if (value := self.get_query_argument(name, None)) is not None
        }
        client = await self.upstream()
        # Without arguments: every key, as before pages existed; with any: one page.
        raw = await client.request("GET", "api-keys", params=params, text=True)
        answer = listing.parse(raw)
        if answer is not None:  # the usual shape: pass the upstream's text on, plus "stored"
            held = await self.stored_ids(answer.keys)
            self.set_header("Content-Type", "application/json")
            self.finish(answer.with_stored(held))
            return
        whole = client.decode(raw)
        keys = whole.get("data") if isinstance(whole, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise KeyApiError(
                502,
                "UPSTREAM_UNAVAILABLE",
                f"The qBraid key service at {client.origin} answered the key list with JSON "
                "that is not a key API answer.",
            )
        whole["data"] = await self.with_stored(keys)
        # The data comes from json.loads of the upstream answer: no cycles to look for.
        self.finish(json.dumps(whole, check_circular=False))

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        store = body.pop("store", True)
        if not isinstance(store, bool):
            raise bad_request("'store' must be true or false.")
        client = await self.upstream()
        try:
            key = await client.request("POST", "api-keys", body, headers=self.actor)
        except KeyApiError as err:
            raise with_store_field(err, body) from None
        if store:
            await self.keep_value(key)
        else:
            key["stored"] = False
        self.keys.announce("created", key)
        self.answer(key, 201)


class KeyHandler(KeysHandler):
    @tornado.web.authenticated
    async def get(self, key_id: str) -> None:
        client = await self.upstream()
        key = await client.request("GET", key_path(key_id))
        self.answer((await self.with_stored([key]))[0])

    @tornado.web.authenticated
    async def patch(self, key_id: str) -> None:
        body = self.json_body()
        client = await self.upstream()
        before = await client.request("GET", key_path(key_id))
        key = await client.request("PATCH", key_path(key_id), body, headers=self.actor)
        if key.get("name") != before.get("name"):
            self.keys.announce("renamed", key)
        if key.get("status") != before.get("status"):
            self.keys.announce("activated" if key.get("status") == "active" else "deactivated", key)
        self.answer((await self.with_stored([key]))[0])

    @tornado.web.authenticated
    async def delete(self, key_id: str) -> None:
        client = await self.upstream()
        key = await client.request("GET", key_path(key_id))
        qbraid_lab_key = await self.qbraid_lab_uses(key_id)
        result = await client.request("DELETE", key_path(key_id), headers=self.actor)
        try:
            await self.in_keyring(self.keys.vault.delete, key_id)
        except VaultError as err:
            result["keyringError"] = str(err)
        if qbraid_lab_key:  # qbraidrc still holds the dead value: the user is told
            result["qbraidLab"] = {"wasKey": True, "path": QBRAIDRC_SHOWN}
        self.keys.announce("revoked", key)
        self.answer(result)


class RotateHandler(KeysHandler):
    @tornado.web.authenticated
    async def post(self, key_id: str) -> None:
        # An optional body {"store": false} skips the keyring, as on create.
        store = self.json_body().get("store", True) if self.request.body else True
        if not isinstance(store, bool):
            raise bad_request("'store' must be true or false.")
        client = await self.upstream()
        qbraid_lab_key = await self.qbraid_lab_uses(key_id)
        held = self.keys.kernel_keys
        held.rotating(key_id, True)  # kernels using the key wait for its new value
        try:
            key = await client.request("POST", key_path(key_id, "rotate"), headers=self.actor)
            if store:
                await self.keep_value(key)
            else:  # the old value is dead: drop it, but never lose the answer
                key["stored"] = False
                try:
                    await self.in_keyring(self.keys.vault.delete, key_id)
                except VaultError as err:
                    key["keyringError"] = str(err)
        finally:
            held.rotating(key_id, False)
        if qbraid_lab_key:  # qBraid Lab's account key follows the rotation (qbraidrc)
            key["qbraidLab"] = await self.follow_in_qbraid_lab(key)
        self.keys.announce("rotated", key)
        self.answer(key)

    async def follow_in_qbraid_lab(self, key: dict[str, Any]) -> dict[str, Any]:
        """Write a rotated key's new value to qbraidrc through qBraid Lab's route."""
        try:
            await self.keys.qbraid_lab.save(self, key["value"], validate=False)
        except KeyApiError as err:
            return {"updated": False, "error": err.message, "path": QBRAIDRC_SHOWN}
        return {"updated": True, "path": QBRAIDRC_SHOWN}


class EventsHandler(KeysHandler):
    """The key service's audit trail, paged (`keyId`, `limit`, `cursor` passed through)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        params = {
            name: self.get_query_argument(name)
            for name in ("keyId", "limit", "cursor")
            if self.get_query_argument(name, "")
        }
        client = await self.upstream()
        self.finish(
            json.dumps(await client.request("GET", "events", params=params, envelope=False))
        )


class KeyringHandler(KeysHandler):
    """`PUT qbraid-keys/keyring/{id}` `{"value"}`: keep a value created elsewhere (checked)."""

    @tornado.web.authenticated
    async def put(self, key_id: str) -> None:
        value = self.json_body().get("value")
        wrong = keyformat.problem(value)
        if wrong:
            raise bad_request(wrong)
        client = await self.upstream()
        key = await client.request("GET", key_path(key_id))
        try:
            owner = (await client.verify(value)).get("apiKey") or {}
        except KeyApiError as err:
            raise KeyApiError(
                400,
                err.code,
                f"The key service rejected that value ({err.message}); nothing was stored.",
            ) from None
        if owner.get("id") != key_id:
            raise bad_request(
                f"That value belongs to the key {owner.get('name')!r}, not {key.get('name')!r}; "
                "nothing was stored."
            )
        await self.in_keyring(self.keys.vault.store, key_id, value, key.get("name"))
        key["stored"] = True
        self.keys.announce("stored", key)
        self.answer(key)


class KernelsHandler(KeysHandler):
    """`GET qbraid-keys/kernels`: which running kernels use which key, with their notebooks."""

    @tornado.web.authenticated
    async def get(self) -> None:
        alive = set(self.kernel_manager.list_kernel_ids())
        paths: dict[str, str] = {}
        for session in await self.session_manager.list_sessions():
            kernel_id = (session.get("kernel") or {}).get("id")
            if kernel_id:
                paths.setdefault(kernel_id, session.get("path") or session.get("name") or "")
        self.answer(
            [
                {
                    "kernelId": kernel_id,
                    "path": paths.get(kernel_id, ""),
                    "keyId": record["id"],
                    "keyName": record["name"],
                    "hint": record["hint"],
                }
                for kernel_id, record in self.keys.kernel_keys.items(alive)
            ]
        )


class KernelKeyHandler(KeysHandler):
    """`PUT`/`DELETE qbraid-keys/kernels/{kernel id}`: a kernel starts or stops using a key."""

    def running(self, kernel_id: str) -> None:
        if kernel_id not in self.kernel_manager:
            raise KeyApiError(404, "NOT_FOUND", f"There is no running kernel {kernel_id!r}.")

    @tornado.web.authenticated
    async def put(self, kernel_id: str) -> None:
        self.running(kernel_id)
        key_id = self.json_body().get("keyId")
        if not isinstance(key_id, str) or not key_id:
            raise bad_request('Give the key as {"keyId": "key_…"}.')
        client = await self.upstream()
        key = await client.request("GET", key_path(key_id))
        record = self.keys.kernel_keys.use(kernel_id, key)
        self.keys.announce("used", key, kernel_id)
        self.answer(record)

    @tornado.web.authenticated
    async def delete(self, kernel_id: str) -> None:
        self.running(kernel_id)
        record = self.keys.kernel_keys.clear(kernel_id)
        if record:
            self.keys.announce("cleared", record, kernel_id)
        self.answer({"kernelId": kernel_id, "cleared": record is not None})


class QbraidLabHandler(KeysHandler):
    """`qbraid-keys/qbraid-lab`: which key qBraid Lab uses; make one of ours its key (opt-in).

    POST reads the key's value from this Lab's keyring and saves it, with the key API's URL,
    through qBraid Lab's own route `qbraid-lab/qbraid-config`, which keeps it in
    ~/.qbraid/qbraidrc as plain text. The value never goes to the browser.
    """

    @tornado.web.authenticated
    async def get(self) -> None:
        self.answer(await self.keys.qbraid_lab.state(self))

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        unknown = [field for field in body if field != "keyId"]
        if unknown:
            raise KeyApiError(
                400,
                "VALIDATION_ERROR",
                unknown_fields_message(unknown, ["keyId"]),
                detail={"allowedFields": ["keyId"]},
            )
        key_id = body.get("keyId")
        if not isinstance(key_id, str) or not key_id:
            raise bad_request('Give the key as {"keyId": "key_…"}.')
        lab = self.keys.qbraid_lab
        if not lab.available:
            raise KeyApiError(
                404, "QBRAID_LAB_UNAVAILABLE", "qBraid Lab does not run in this Jupyter server."
            )
        client = await self.upstream()
        key = await client.request("GET", key_path(key_id))
        name = key.get("name")
        if key.get("status") != "active":
            raise bad_request(f"The key {name!r} is inactive: activate it first.")
        value = await self.in_keyring(self.keys.vault.fetch, key_id)
        if not value:
            raise KeyApiError(
                409,
                "NOT_STORED",
                f"This Lab's keyring does not hold the value of {name!r}: regenerate the key "
                "here (or store it with %qbraid_key add) first.",
            )
        await lab.save(self, value, validate=True)
        self.answer(
            {
                "keyId": key_id,
                "keyName": name,
                "hint": key.get("hint"),
                "url": lab.api_url(self),
                "path": QBRAIDRC_SHOWN,
            }
        )


class StatusHandler(KeysHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        status = self.keys.status()
        try:
            client = await self.upstream()
            await client.scopes()
            status["upstream"]["reachable"] = True
        except KeyApiError as err:
            status["upstream"]["reachable"] = False
            status["upstream"]["message"] = err.message
        status["upstream"]["url"] = self.keys.upstream_root or None
        self.finish(json.dumps(status))


class NotFoundHandler(KeysHandler):
    """Any other path under the namespace: a JSON 404, after authentication."""

    def _missing(self, *args: Any) -> None:
        raise KeyApiError(404, "NOT_FOUND", f"There is no route {self.request.path}.")

    get = tornado.web.authenticated(_missing)
    post = tornado.web.authenticated(_missing)
    patch = tornado.web.authenticated(_missing)
    put = tornado.web.authenticated(_missing)
    delete = tornado.web.authenticated(_missing)


def routes() -> list[tuple[str, type]]:
    """Every route of the extension, relative to the server's base URL."""
    api = f"{NAMESPACE}/api/v1"
    return [
        (f"{api}/api-key-scopes", ScopesHandler),
        (f"{api}/api-keys", KeyListHandler),
        (f"{api}/api-keys/([^/]+)", KeyHandler),
        (f"{api}/api-keys/([^/]+)/rotate", RotateHandler),
        (f"{api}/events", EventsHandler),
        (f"{NAMESPACE}/keyring/([^/]+)", KeyringHandler),
        (f"{NAMESPACE}/kernels", KernelsHandler),
        (f"{NAMESPACE}/kernels/([^/]+)", KernelKeyHandler),
        (f"{NAMESPACE}/qbraid-lab", QbraidLabHandler),
        (f"{NAMESPACE}/status", StatusHandler),
        (f"{NAMESPACE}(?:/.*)?", NotFoundHandler),
    ]
