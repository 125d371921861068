"""Authentication failures are rate limited per client IP; valid use is never refused.

qBraid allows 100 unauthenticated requests per 15 minutes; the service's defaults are the same
(`KeyService(rate_limit=100, rate_window=900)`, CLI `--rate-limit`, `--rate-window`). Here the
limit is small so the tests stay fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClient, HTTPClientError, HTTPRequest

from qbraid_keys_ext.service import KeyService, keyformat
from qbraid_keys_ext.service.ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW, FailureLimiter

from .loopback import ThreadedServer
from .test_openapi import check, response_schema

TOKEN = "ratelimit-account-token"
LIMIT = 3
WINDOW = 60.0
REPO = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_counts_failures_in_a_sliding_window():
    clock = Clock()
    limiter = FailureLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.failed("a")
        clock.now += 10
    assert limiter.retry_after("a") == 30  # the first failure (t=1000) leaves at t=1060
    assert limiter.retry_after("b") is None  # per client
    clock.now = 1060
    assert limiter.retry_after("a") is None  # one slot free again
    limiter.failed("a")
    assert limiter.retry_after("a") == 10
    clock.now = 1200
    assert limiter.retry_after("a") is None
    assert limiter._failures == {}  # expired clients are forgotten


def test_limiter_defaults_off_switch_and_bounded_memory():
    assert (DEFAULT_LIMIT, DEFAULT_WINDOW) == (100, 900.0)
    off = FailureLimiter(0, 60)
    for _ in range(10):
        off.failed("a")
    assert off.retry_after("a") is None

    limiter = FailureLimiter(2, 60, max_clients=100)
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._failures) <= 100
    with pytest.raises(ValueError):
        FailureLimiter(-1, 60)


@pytest.fixture
def service(start_service):
    return start_service(TOKEN, rate_limit=LIMIT, rate_window=WINDOW)


async def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
):
    """(status, JSON answer, Retry-After header) of one request, optionally from another IP."""
    raw = None if body is None else json.dumps(body).encode()
    request = HTTPRequest(
        url, method=method, body=raw, headers=headers or {}, network_interface=source
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code, json.loads(response.body), response.headers.get("Retry-After")


async def test_invalid_keys_get_429_with_retry_after_and_valid_use_is_unaffected(service):
    base = f"{service.url}/api/v1"
    auth = {"X-Access-Token": TOKEN}
    _, created, _ = await call(
        f"{base}/api-keys", "POST", {"name": "ci", "scopes": ["jobs:read"]}, auth
    )
    value = created["data"]["value"]
    verify = f"{base}/users/verify"

    # successes and scope refusals (the key is valid) do not count
    for _ in range(LIMIT + 2):
        assert (await call(verify, headers={"X-API-Key": value}))[0] == 200
        assert (await call(verify + "?scope=jobs:write", headers={"X-API-Key": value}))[0] == 403

    wrong = keyformat.generate()
    bad_checksum = value[:-1] + ("0" if value[-1] != "0" else "1")
    for header in ({"X-API-Key": wrong}, {"X-API-Key": bad_checksum}, {}):
        status, answer, retry = await call(verify, headers=header)
        assert status == 401 and retry is None, answer

    status, answer, retry = await call(verify, headers={"X-API-Key": wrong})
    assert status == 429 and answer["error"]["code"] == "RATE_LIMITED"
    assert retry is not None and 1 <= int(retry) <= WINDOW
    assert "try again in" in answer["message"] and wrong not in json.dumps(answer)
    check(response_schema("/api/v1/users/verify", "get", 429), answer)

    # the limited client's valid key still works, and is counted as a use
    status, answer, _ = await call(verify, headers={"X-API-Key": value})
    assert status == 200 and answer["data"]["apiKey"]["name"] == "ci"
    _, key, _ = await call(f"{base}/api-keys/{created['data']['id']}", headers=auth)
    assert key["data"]["usage"]["total"] == LIMIT + 3

    # another client IP is not affected (Linux routes all of 127/8 to loopback)
    status, answer, retry = await call(verify, headers={"X-API-Key": wrong}, source="127.0.0.2")
    assert (status, answer["error"]["code"], retry) == (401, "INVALID_API_KEY", None)


async def test_wrong_access_tokens_share_the_limit_and_the_right_token_works(service):
    base = f"{service.url}/api/v1"
    for _ in range(LIMIT):
        status, answer, _ = await call(f"{base}/api-keys", headers={"X-Access-Token": "guess"})
        assert (status, answer["error"]["code"]) == (401, "UNAUTHORIZED")
    for path, method in [("/api-keys", "get"), ("/api-keys", "post"), ("/api-key-scopes", "get")]:
        body = {"name": "x"} if method == "post" else None
        status, answer, retry = await call(
            base + path, method.upper(), body, {"X-Access-Token": "guess"}
        )
        assert status == 429 and int(retry) >= 1
        check(response_schema("/api/v1" + path, method, 429), answer)
    status, answer, _ = await call(f"{base}/api-keys", headers={"X-Access-Token": TOKEN})
    assert (status, answer["success"]) == (200, True)
    # verify shares the per-client count: a bad key from this client is limited too
    status, _, _ = await call(f"{base}/users/verify", headers={"X-API-Key": "nope"})
    assert status == 429


@pytest.fixture
def remote(tmp_path_factory):
    """A standalone service with a small limit, standing in for a remote upstream."""
    svc = KeyService(
        tmp_path_factory.mktemp("limited") / "keys.sqlite3", TOKEN, rate_limit=2, rate_window=600
    )
    with ThreadedServer(lambda: svc.start("127.0.0.1", 0), svc.stop) as server:
        yield server.url


@pytest.fixture
def upstream_config(remote):
    return {"upstream_url": remote, "access_token": "not-the-token"}


async def test_the_proxy_passes_429_and_retry_after_through(jp_fetch, remote):
    got = []
    for _ in range(3):
        try:
            response = await jp_fetch("qbraid-keys", "api", "v1", "api-keys")
        except HTTPClientError as err:
            response = err.response
        got.append((response.code, json.loads(response.body), response.headers))
    assert [code for code, _, _ in got] == [401, 401, 429]
    _, answer, headers = got[2]
    assert answer["error"]["code"] == "RATE_LIMITED" and answer["success"] is False
    assert 500 < int(headers["Retry-After"]) <= 600
    assert "not-the-token" not in json.dumps(answer)


def test_cli_options_set_the_limit(tmp_path):
    env = {**os.environ, "QBRAID_KEYS_ACCESS_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    args = ["--db", str(tmp_path / "k.sqlite3"), "--port", "0", "--rate-limit", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbraid_keys_ext.service", *args, "--rate-window", "30"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().split()[-1]
        codes = []
        client = HTTPClient()
        try:
            for _ in range(2):
                request = HTTPRequest(f"{url}/api/v1/users/verify", headers={"X-API-Key": "x"})
                response = client.fetch(request, raise_error=False)
                codes.append((response.code, response.headers.get("Retry-After")))
        finally:
            client.close()
        assert codes[0] == (401, None)
        assert codes[1][0] == 429 and 1 <= int(codes[1][1]) <= 30
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()

    bad = subprocess.run(
        [sys.executable, "-m", "qbraid_keys_ext.service", "--db", "x", "--port", "0",
         "--rate-limit", "-1"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and "--rate-limit" in bad.stderr
