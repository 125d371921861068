"""The key service over real HTTP: lifecycle, usage, errors, standalone process.

The service tests run twice, on SQLite and on PostgreSQL (`store_db`); the few that look at
SQLite's files or its in-process cache are marked so.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from qbraid_keys_ext.service import KeyService, KeyServiceError, KeyStore, keyformat

TOKEN = "test-account-token"
ALL_SCOPES = ["devices:read", "jobs:read", "jobs:write", "credits:read"]
READ_ONLY = ["devices:read", "jobs:read", "credits:read"]
REPO = Path(__file__).resolve().parents[1]


async def fetch(
    url: str,
    method: str = "GET",
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Make one HTTP call; return (status, decoded JSON answer)."""
    if raw is None and body is not None:
        raw = json.dumps(body).encode()
    if raw is None and method in ("POST", "PATCH", "PUT"):
        raw = b""
    response = await AsyncHTTPClient().fetch(
        url,
        method=method,
        body=raw,
        headers=headers or {},
        raise_error=False,
        allow_nonstandard_methods=True,
    )
    assert response.headers["Content-Type"].startswith("application/json")
    return response.code, json.loads(response.body)


@pytest.fixture
def service(start_service, store_db):
    """A real service on a loopback port, in the loop the test runs in; flushed only on demand.

    Once on SQLite, once on PostgreSQL."""
    return start_service(TOKEN, db=store_db, flush_interval=3600)


@pytest.fixture
def api(service):
    """Call a management route with the account token (unless told otherwise)."""

    async def call(method: str, path: str, body: Any = None, token: str | None = TOKEN, **kw):
        headers = kw.pop("headers", {})
        if token is not None:
            headers["X-Access-Token"] = token
        return await fetch(f"{service.url}/api/v1{path}", method, body=body, headers=headers, **kw)

    return call


@pytest.fixture
def verify(service):
    """Call /users/verify with a key value and optional scope."""

    async def call(value: str | None, scope: str | None = None):
        headers = {} if value is None else {"X-API-Key": value}
        query = "" if scope is None else f"?scope={scope}"
        return await fetch(f"{service.url}/api/v1/users/verify{query}", headers=headers)

    return call


def db_files(service: KeyService) -> dict[str, bytes]:
    """Bytes of the database and its WAL file (SQLite; PostgreSQL's are another user's)."""
    if str(service.db_path).startswith("postgresql://"):
        return {}
    path = Path(service.db_path)
    out = {}
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def usage_rows(service: KeyService) -> list[tuple]:
    """The stored usage rows: (key id, ISO date, count)."""
    if str(service.db_path).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(service.db_path)) as db:
            rows = db.execute("SELECT key_id, day, count FROM usage ORDER BY key_id").fetchall()
        return [(key_id, day.isoformat(), count) for key_id, day, count in rows]
    with sqlite3.connect(f"file:{service.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT key_id, date, count FROM usage ORDER BY key_id").fetchall()


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def assert_error(status: int, answer: dict, expected_status: int, code: str) -> None:
    assert status == expected_status, answer
    assert answer["success"] is False
    assert answer["error"]["code"] == code
    assert set(answer["error"]) <= {"code", "allowedFields"}
    assert isinstance(answer["message"], str) and answer["message"]


# -- lifecycle ------------------------------------------------------------------------------


async def test_start_returns_url(service):
    assert service.url.startswith("http://127.0.0.1:")
    assert not service.url.endswith("/")


async def test_scopes(api):
    status, answer = await api("GET", "/api-key-scopes")
    assert status == 200 and answer["success"] is True
    assert [s["name"] for s in answer["data"]] == ALL_SCOPES
    assert all(s["description"] for s in answer["data"])
    assert [s["name"] for s in answer["data"] if s["default"]] == READ_ONLY
    assert [s["name"] for s in answer["data"] if s["spendsCredits"]] == ["jobs:write"]


async def test_create_shows_value_once_and_details(api, service, verify):
    status, answer = await api("POST", "/api-keys", {"name": "  ci  ", "scopes": ["jobs:read"]})
    assert status == 201 and answer["success"] is True
    key = answer["data"]
    value = key.pop("value")
    assert keyformat.has_valid_checksum(value)
    assert key["id"].startswith("key_") and len(key["id"]) == 20
    assert key["name"] == "ci"
    assert key["hint"] == keyformat.hint(value)
    assert key["scopes"] == ["jobs:read"]
    assert key["status"] == "active"
    created = datetime.strptime(key["createdAt"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(created - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=1)
    assert key["rotatedAt"] is None and key["lastUsedAt"] is None
    assert key["usage"]["total"] == 0
    daily = key["usage"]["daily"]
    assert len(daily) == 30 and daily[-1] == {"date": today(), "count": 0}
    assert [d["date"] for d in daily] == sorted(d["date"] for d in daily)
    assert set(key) == {
        "id", "name", "hint", "scopes", "status", "createdAt", "rotatedAt", "lastUsedAt", "usage",
    }  # fmt: skip

    _, listed = await api("GET", "/api-keys")
    _, details = await api("GET", f"/api-keys/{key['id']}")
    assert listed["data"] == [key] and details["data"] == key
    assert value not in json.dumps(listed) + json.dumps(details)
    for blob in db_files(service).values():
        assert value.encode() not in blob and value[4:60].encode() not in blob

    status, answer = await verify(value)
    assert status == 200
    assert answer["data"]["apiKey"] == {"id": key["id"], "name": "ci", "scopes": ["jobs:read"]}
    assert {"userId", "email", "organizationId", "organizationUserId"} <= set(answer["data"])


async def test_default_scopes_are_read_only_and_newest_first(api, verify):
    ids = []
    for name in ("a", "b", "c"):
        _, answer = await api("POST", "/api-keys", {"name": name})
        assert answer["data"]["scopes"] == READ_ONLY
        ids.append(answer["data"]["id"])
    _, listed = await api("GET", "/api-keys")
    assert [k["id"] for k in listed["data"]] == ids[::-1]
    # Least privilege: a key made without scopes cannot spend credits until asked for.
    value = answer["data"]["value"]
    assert (await verify(value, "credits:read"))[0] == 200
    status, refused = await verify(value, "jobs:write")
    assert_error(status, refused, 403, "INSUFFICIENT_SCOPE")
    _, answer = await api("POST", "/api-keys", {"name": "d", "scopes": ALL_SCOPES})
    assert answer["data"]["scopes"] == ALL_SCOPES


async def test_rotate_invalidates_old_value_at_once(api, verify, service):
    _, created = await api("POST", "/api-keys", {"name": "ci", "scopes": ["jobs:write"]})
    old = created["data"]["value"]
    key_id = created["data"]["id"]
    assert (await verify(old))[0] == 200
    status, rotated = await api("POST", f"/api-keys/{key_id}/rotate")
    assert status == 200
    new = rotated["data"]["value"]
    assert new != old and keyformat.has_valid_checksum(new)
    data = rotated["data"]
    assert (data["id"], data["name"], data["scopes"]) == (key_id, "ci", ["jobs:write"])
    assert data["hint"] == keyformat.hint(new) and data["rotatedAt"] is not None
    assert_error(*(await verify(old)), 401, "INVALID_API_KEY")
    assert (await verify(new))[0] == 200
    _, details = await api("GET", f"/api-keys/{key_id}")
    assert "value" not in details["data"] and details["data"]["usage"]["total"] == 2
    for blob in db_files(service).values():
        assert new.encode() not in blob and old.encode() not in blob


async def test_revoke_is_permanent(api, verify):
    _, created = await api("POST", "/api-keys", {"name": "ci"})
    key_id, value = created["data"]["id"], created["data"]["value"]
    assert (await verify(value))[0] == 200
    status, answer = await api("DELETE", f"/api-keys/{key_id}")
    assert status == 200 and answer["data"] == {"id": key_id, "deleted": True}
    assert_error(*(await api("GET", f"/api-keys/{key_id}")), 404, "NOT_FOUND")
    assert_error(*(await api("DELETE", f"/api-keys/{key_id}")), 404, "NOT_FOUND")
    assert_error(*(await api("POST", f"/api-keys/{key_id}/rotate")), 404, "NOT_FOUND")
    assert_error(*(await verify(value)), 401, "INVALID_API_KEY")
    assert (await api("GET", "/api-keys"))[1]["data"] == []
    # the name is free again, and pending usage of the revoked key does not come back
    _, again = await api("POST", "/api-keys", {"name": "ci"})
    assert again["data"]["usage"]["total"] == 0


async def test_inactive_key_rejected_then_reactivated(api, verify):
    _, created = await api("POST", "/api-keys", {"name": "ci"})
    key_id, value = created["data"]["id"], created["data"]["value"]
    status, answer = await api("PATCH", f"/api-keys/{key_id}", {"status": "inactive"})
    assert status == 200 and answer["data"]["status"] == "inactive"
    assert_error(*(await verify(value)), 401, "API_KEY_INACTIVE")
    status, answer = await api("PATCH", f"/api-keys/{key_id}", {"status": "active"})
    assert answer["data"]["status"] == "active"
    assert (await verify(value))[0] == 200
    _, details = await api("GET", f"/api-keys/{key_id}")
    assert details["data"]["usage"]["total"] == 1  # the rejected call did not count


async def test_rename(api):
    _, created = await api("POST", "/api-keys", {"name": "ci"})
    key_id = created["data"]["id"]
    status, answer = await api("PATCH", f"/api-keys/{key_id}", {"name": " build "})
    assert status == 200 and answer["data"]["name"] == "build"
    status, answer = await api("PATCH", f"/api-keys/{key_id}", {"name": "build"})
    assert status == 200
    status, answer = await api("PATCH", f"/api-keys/{key_id}", {})
    assert status == 200 and answer["data"]["name"] == "build"


async def test_scope_check_on_verify(api, verify):
    _, created = await api("POST", "/api-keys", {"name": "ro", "scopes": ["jobs:read"]})
    value = created["data"]["value"]
    assert (await verify(value, "jobs:read"))[0] == 200
    assert_error(*(await verify(value, "jobs:write")), 403, "INSUFFICIENT_SCOPE")
    status, answer = await verify(value, "root:all")
    assert_error(status, answer, 400, "VALIDATION_ERROR")
    assert "jobs:write" in answer["message"]


async def test_verify_rejections(verify):
    value = keyformat.generate()
    bad_checksum = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert_error(*(await verify(None)), 401, "INVALID_API_KEY")
    assert_error(*(await verify("")), 401, "INVALID_API_KEY")
    assert_error(*(await verify("qbr_short")), 401, "INVALID_API_KEY")
    assert_error(*(await verify(value.upper())), 401, "INVALID_API_KEY")
    assert_error(*(await verify(bad_checksum)), 401, "INVALID_API_KEY_FORMAT")
    assert_error(*(await verify(value)), 401, "INVALID_API_KEY")  # well formed, unknown
    _, answer = await verify(bad_checksum)
    assert bad_checksum not in json.dumps(answer)


# -- usage ----------------------------------------------------------------------------------


async def test_usage_counted_in_memory_then_flushed(api, verify, service):
    _, created = await api("POST", "/api-keys", {"name": "ci"})
    key_id, value = created["data"]["id"], created["data"]["value"]
    before = db_files(service)
    for _ in range(5):
        assert (await verify(value))[0] == 200
    assert db_files(service) == before  # no disk write on the verify path
    assert usage_rows(service) == []

    _, details = await api("GET", f"/api-keys/{key_id}")
    usage = details["data"]["usage"]
    assert usage["total"] == 5 and usage["daily"][-1] == {"date": today(), "count": 5}
    last_used = details["data"]["lastUsedAt"]
    assert last_used is not None and last_used.endswith("Z")

    await service.flush()
    assert usage_rows(service) == [(key_id, today(), 5)]
    _, details = await api("GET", f"/api-keys/{key_id}")
    assert details["data"]["usage"]["total"] == 5
    assert details["data"]["lastUsedAt"] == last_used

    for _ in range(2):
        await verify(value)
    _, listed = await api("GET", "/api-keys")
    assert listed["data"][0]["usage"]["total"] == 7  # flushed + pending
    assert listed["data"][0]["usage"]["daily"][-1]["count"] == 7
    await service.flush()
    assert usage_rows(service) == [(key_id, today(), 7)]


async def test_periodic_flush(store_db):
    svc = KeyService(store_db, TOKEN, flush_interval=0.05)
    await svc.start()
    try:
        headers = {"X-Access-Token": TOKEN}
        _, created = await fetch(
            f"{svc.url}/api/v1/api-keys", "POST", body={"name": "ci"}, headers=headers
        )
        value = created["data"]["value"]
        await fetch(f"{svc.url}/api/v1/users/verify", headers={"X-API-Key": value})
        for _ in range(100):
            if usage_rows(svc):
                break
            await asyncio.sleep(0.02)
        assert usage_rows(svc) == [(created["data"]["id"], today(), 1)]
    finally:
        await svc.stop()


async def test_flush_interval_zero_writes_usage_on_every_verify(store_db):
    svc = KeyService(store_db, TOKEN, flush_interval=0)
    await svc.start()
    try:
        headers = {"X-Access-Token": TOKEN}
        _, created = await fetch(
            f"{svc.url}/api/v1/api-keys", "POST", body={"name": "ci"}, headers=headers
        )
        key_id, value = created["data"]["id"], created["data"]["value"]
        for n in (1, 2):
            status, _ = await fetch(f"{svc.url}/api/v1/users/verify", headers={"X-API-Key": value})
            assert status == 200
            assert usage_rows(svc) == [(key_id, today(), n)]  # on disk before the answer
        _, details = await fetch(f"{svc.url}/api/v1/api-keys/{key_id}", headers=headers)
        assert details["data"]["usage"]["total"] == 2  # not counted twice
        assert details["data"]["lastUsedAt"] is not None
    finally:
        await svc.stop()


def assert_rejected(store: KeyStore, value: str, code: str) -> None:
    with pytest.raises(KeyServiceError) as caught:
        store.verify(value)
    assert caught.value.code == code


def test_verified_keys_remembered_until_our_own_writes(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite3")
    try:
        created = store.create({"name": "ci"})
        key_id, old = created["id"], created["value"]
        assert store.verify(old).name == "ci"  # now remembered in memory
        store.update(key_id, {"name": "renamed"})
        assert store.verify(old).name == "renamed"
        store.update(key_id, {"status": "inactive"})
        assert_rejected(store, old, "API_KEY_INACTIVE")
        store.update(key_id, {"status": "active"})
        assert store.verify(old).id == key_id
        new = store.rotate(key_id)["value"]
        assert_rejected(store, old, "INVALID_API_KEY")
        assert store.verify(new).id == key_id
        store.delete(key_id)
        assert_rejected(store, new, "INVALID_API_KEY")
    finally:
        store.close()


def test_verified_keys_forgotten_when_another_process_writes(tmp_path):
    """Two services on one database file (two Jupyter servers of one user): a rotation,
    deactivation or revocation through one is seen by the other's very next verify."""
    path = tmp_path / "keys.sqlite3"
    here, there = KeyStore(path), KeyStore(path)
    try:
        created = here.create({"name": "ci"})
        key_id, old = created["id"], created["value"]
        assert here.verify(old).id == key_id
        new = there.rotate(key_id)["value"]
        assert_rejected(here, old, "INVALID_API_KEY")
        assert here.verify(new).id == key_id
        there.update(key_id, {"status": "inactive"})
        assert_rejected(here, new, "API_KEY_INACTIVE")
        there.update(key_id, {"status": "active"})
        assert here.verify(new).id == key_id
        there.delete(key_id)
        assert_rejected(here, new, "INVALID_API_KEY")
    finally:
        here.close()
        there.close()


async def test_usage_flushed_on_stop_and_survives_restart(store_db):
    svc = KeyService(store_db, TOKEN, flush_interval=3600)
    await svc.start()
    headers = {"X-Access-Token": TOKEN}
    _, created = await fetch(
        f"{svc.url}/api/v1/api-keys", "POST", body={"name": "ci"}, headers=headers
    )
    for _ in range(3):
        await fetch(
            f"{svc.url}/api/v1/users/verify", headers={"X-API-Key": created["data"]["value"]}
        )
    await svc.stop()
    svc = KeyService(store_db, TOKEN)
    await svc.start()
    try:
        _, listed = await fetch(f"{svc.url}/api/v1/api-keys", headers=headers)
        assert listed["data"][0]["usage"]["total"] == 3
        assert listed["data"][0]["lastUsedAt"] is not None
    finally:
        await svc.stop()


# -- bad input: clear 4xx, never 500, nothing half-written ---------------------------------


BAD_CREATES = [
    ({"name": ""}, 400, "VALIDATION_ERROR"),
    ({"name": "   "}, 400, "VALIDATION_ERROR"),
    ({"name": "x" * 65}, 400, "VALIDATION_ERROR"),
    ({"name": "a\x00b"}, 400, "VALIDATION_ERROR"),
    ({"name": "a\nb"}, 400, "VALIDATION_ERROR"),
    ({"name": "a\x7fb"}, 400, "VALIDATION_ERROR"),
    ({"name": "a\ud800b"}, 400, "VALIDATION_ERROR"),
    ({"name": "taken"}, 409, "NAME_TAKEN"),
    ({"name": 5}, 400, "VALIDATION_ERROR"),
    ({"name": None}, 400, "VALIDATION_ERROR"),
    ({}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": ["root:all"]}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": "jobs:read"}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": [1]}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": None}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": []}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "scopes": ["jobs:read", "jobs:read"]}, 400, "VALIDATION_ERROR"),
    ({"name": "n", "extra": 1}, 400, "VALIDATION_ERROR"),
]
BAD_RAW = [b"", b"{", b"not json", b"[]", b'["name"]', b'"ci"', b"null", b"\xff\xfe", b"[" * 50000]


@pytest.fixture
def one_key(api, jp_asyncio_loop):
    _, created = jp_asyncio_loop.run_until_complete(api("POST", "/api-keys", {"name": "taken"}))
    return created["data"]


async def assert_unchanged(api, before):
    _, listed = await api("GET", "/api-keys")
    assert listed["data"] == before


async def test_bad_creates(api, one_key):
    _, before = await api("GET", "/api-keys")
    for body, status, code in BAD_CREATES:
        got = await api("POST", "/api-keys", raw=json.dumps(body).encode())
        assert_error(*got, status, code)
        await assert_unchanged(api, before["data"])
    for raw in BAD_RAW:
        assert_error(*(await api("POST", "/api-keys", raw=raw)), 400, "VALIDATION_ERROR")
        await assert_unchanged(api, before["data"])


async def test_unknown_scope_message_names_valid_ones(api):
    status, answer = await api("POST", "/api-keys", {"name": "n", "scopes": ["root:all"]})
    assert_error(status, answer, 400, "VALIDATION_ERROR")
    for scope in ALL_SCOPES:
        assert scope in answer["message"]


async def test_bad_patches(api, one_key):
    _, other = await api("POST", "/api-keys", {"name": "other"})
    _, before = await api("GET", "/api-keys")
    path = f"/api-keys/{other['data']['id']}"
    cases = [
        ({"name": "taken"}, 409, "NAME_TAKEN"),
        ({"name": ""}, 400, "VALIDATION_ERROR"),
        ({"name": "x" * 65}, 400, "VALIDATION_ERROR"),
        ({"name": "a\tb"}, 400, "VALIDATION_ERROR"),
        ({"name": None}, 400, "VALIDATION_ERROR"),
        ({"status": "revoked"}, 400, "VALIDATION_ERROR"),
        ({"status": True}, 400, "VALIDATION_ERROR"),
        ({"scopes": ["jobs:read"]}, 400, "VALIDATION_ERROR"),
        ({"name": "fine", "status": "paused"}, 400, "VALIDATION_ERROR"),
        ({"status": "inactive", "id": "key_0"}, 400, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        assert_error(*(await api("PATCH", path, raw=json.dumps(body).encode())), status, code)
        await assert_unchanged(api, before["data"])
    for raw in BAD_RAW:
        assert_error(*(await api("PATCH", path, raw=raw)), 400, "VALIDATION_ERROR")
        await assert_unchanged(api, before["data"])


async def test_unknown_ids(api, one_key):
    _, before = await api("GET", "/api-keys")
    for key_id in ("key_0000000000000000", "nope", "%00", "x" * 500, "%E2%80%A6"):
        for method, suffix, body in [
            ("GET", "", None),
            ("PATCH", "", {"status": "inactive"}),
            ("DELETE", "", None),
            ("POST", "/rotate", None),
        ]:
            got = await api(method, f"/api-keys/{key_id}{suffix}", body)
            assert_error(*got, 404, "NOT_FOUND")
    assert_error(*(await api("GET", "/api-keys/%ff")), 400, "VALIDATION_ERROR")
    await assert_unchanged(api, before["data"])


async def test_payload_too_large(api, one_key):
    _, before = await api("GET", "/api-keys")
    big = json.dumps({"name": "big", "pad": "x" * (64 * 1024)}).encode()
    assert_error(*(await api("POST", "/api-keys", raw=big)), 413, "PAYLOAD_TOO_LARGE")
    path = f"/api-keys/{one_key['id']}"
    assert_error(*(await api("PATCH", path, raw=big)), 413, "PAYLOAD_TOO_LARGE")
    await assert_unchanged(api, before["data"])
    ok = json.dumps({"name": "fits", "pad": ""}).encode()
    assert_error(*(await api("POST", "/api-keys", raw=ok)), 400, "VALIDATION_ERROR")


async def test_authentication(api, one_key):
    _, before = await api("GET", "/api-keys")
    calls = [
        ("GET", "/api-key-scopes", None),
        ("GET", "/api-keys", None),
        ("POST", "/api-keys", {"name": "x"}),
        ("GET", f"/api-keys/{one_key['id']}", None),
        ("PATCH", f"/api-keys/{one_key['id']}", {"status": "inactive"}),
        ("DELETE", f"/api-keys/{one_key['id']}", None),
        ("POST", f"/api-keys/{one_key['id']}/rotate", None),
    ]
    for token in (None, "", "wrong", TOKEN + "x", TOKEN.upper(), "t\u00e9st"):
        for method, path, body in calls:
            status, answer = await api(method, path, body, token=token)
            assert_error(status, answer, 401, "UNAUTHORIZED")
    await assert_unchanged(api, before["data"])


async def test_unknown_routes_and_methods(api, service):
    assert_error(*(await api("GET", "/nope")), 404, "NOT_FOUND")
    assert_error(*(await api("GET", "/api-keys/")), 404, "NOT_FOUND")
    assert_error(*(await fetch(service.url + "/")), 404, "NOT_FOUND")
    assert_error(*(await api("PUT", "/api-keys", {"name": "x"})), 405, "METHOD_NOT_ALLOWED")
    assert_error(*(await api("DELETE", "/api-keys")), 405, "METHOD_NOT_ALLOWED")
    assert_error(*(await api("POST", "/api-key-scopes")), 405, "METHOD_NOT_ALLOWED")
    response = await AsyncHTTPClient().fetch(
        f"{service.url}/api/v1/api-keys/key_1", method="PUT", body=b"{}", raise_error=False,
        headers={"X-Access-Token": TOKEN},
    )  # fmt: skip
    assert response.code == 405 and response.headers["Allow"] == "GET, PATCH, DELETE"
    status, answer = await fetch(service.url + "/api/v1/users/verify", "POST", raw=b"")
    assert_error(status, answer, 405, "METHOD_NOT_ALLOWED")


async def test_unexpected_error_is_enveloped(api, service, monkeypatch):
    def boom(*_):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(service.backend), "account", boom)
    status, answer = await api("GET", "/api-keys")
    assert_error(status, answer, 500, "INTERNAL_ERROR")
    assert "disk on fire" not in answer["message"]


async def test_error_messages_never_echo_a_key_value(api):
    value = keyformat.generate()
    for body in ({"name": "n", "scopes": [value]}, {"name": "n", value: 1}):
        _, answer = await api("POST", "/api-keys", body)
        assert value not in json.dumps(answer) and value[4:20] not in json.dumps(answer)
    _, answer = await api("GET", f"/api-keys/{value}")
    assert value[4:20] not in json.dumps(answer)


# -- standalone process ---------------------------------------------------------------------


async def start_process(db: Path, env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbraid_keys_ext.service", "--db", str(db), "--port", "0",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    prefix = "qBraid key service listening on "
    assert line.startswith(prefix), line
    return proc, line[len(prefix) :]


async def test_standalone_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "QBRAID_KEYS_ACCESS_TOKEN": TOKEN}
    db = tmp_path / "standalone.sqlite3"
    headers = {"X-Access-Token": TOKEN}
    proc, url = await start_process(db, env)
    try:
        _, created = await fetch(
            f"{url}/api/v1/api-keys", "POST", body={"name": "ci"}, headers=headers
        )
        for _ in range(4):
            status, _ = await fetch(
                f"{url}/api/v1/users/verify", headers={"X-API-Key": created["data"]["value"]}
            )
            assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    stderr = (await proc.stderr.read()).decode()
    assert created["data"]["value"] not in stderr

    proc, url = await start_process(db, env)
    try:
        _, listed = await fetch(f"{url}/api/v1/api-keys", headers=headers)
        assert listed["data"][0]["usage"]["total"] == 4
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_standalone_without_token_exits_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QBRAID_KEYS_ACCESS_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbraid_keys_ext.service", "--db", str(tmp_path / "x.db"),
        "--port", "0", cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode != 0
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "QBRAID_KEYS_ACCESS_TOKEN" in lines[0]


async def test_standalone_with_a_database_url_exits_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "QBRAID_KEYS_ACCESS_TOKEN": TOKEN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbraid_keys_ext.service",
        "--db", "mysql://keys:hunter2@db.example/keys", "--port", "0",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and stdout == b""
    assert stderr.decode().splitlines() == [
        "qbraid-keys service: --db: mysql:// databases are not supported; give the path of a "
        "SQLite file or a postgresql:// URL."
    ]
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after the URL


async def test_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {k: v for k, v in os.environ.items() if k != "QBRAID_KEYS_ACCESS_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qbraid_keys_ext.service", "--db", str(tmp_path / "x.db"),
        "--port", "0", "--access-token-file", str(token_file),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = line.strip().rsplit(" ", 1)[-1]
        status, _ = await fetch(f"{url}/api/v1/api-keys", headers={"X-Access-Token": TOKEN})
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
