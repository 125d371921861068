"""Concurrent use over real HTTP: rotations, verification through a rotation, duplicate creates,
and a Jupyter server that keeps serving while its upstream stalls."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from qbraid_keys_ext.service import KeyService

from .loopback import ThreadedServer
from .test_proxy_remote import faulty_upstreams  # noqa: F401  (module fixture)

TOKEN = "concurrency-account-token"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def service(tmp_path):
    """The key service in its own thread and loop: clients and server really run side by side."""
    svc = KeyService(tmp_path / "keys.sqlite3", TOKEN)
    with ThreadedServer(lambda: svc.start("127.0.0.1", 0), svc.stop) as server:
        yield server.url


@pytest.fixture
def api(service):
    """`await api(method, path, body)` -> (status, JSON), up to 300 requests in parallel."""
    client = AsyncHTTPClient(force_instance=True, max_clients=300)

    async def call(method: str, path: str, body: Any = None, headers: dict | None = None):
        raw = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        response = await client.fetch(
            f"{service}/api/v1{path}",
            method=method,
            body=raw,
            headers={"X-Access-Token": TOKEN} if headers is None else headers,
            raise_error=False,
            request_timeout=60,
        )
        return response.code, json.loads(response.body)

    yield call
    client.close()


async def verify(api, value: str) -> int:
    status, _ = await api("GET", "/users/verify", headers={"X-API-Key": value})
    return status


async def test_50_concurrent_rotations(api):
    scopes = ["jobs:read", "jobs:write"]
    status, created = await api("POST", "/api-keys", {"name": "ci", "scopes": scopes})
    assert status == 201
    key_id, original = created["data"]["id"], created["data"]["value"]

    answers = await asyncio.gather(*(api("POST", f"/api-keys/{key_id}/rotate") for _ in range(50)))

    assert [status for status, _ in answers] == [200] * 50
    values = [answer["data"]["value"] for _, answer in answers]
    assert len(set(values)) == 50 and original not in values
    for _, answer in answers:
        assert (answer["data"]["id"], answer["data"]["name"]) == (key_id, "ci")
        assert answer["data"]["scopes"] == scopes
    outcomes = await asyncio.gather(*(verify(api, v) for v in [original, *values]))
    assert outcomes[0] == 401
    assert sorted(outcomes[1:]) == [200] + [401] * 49  # exactly one value works at the end
    survivor = values[outcomes[1:].index(200)]

    _, key = await api("GET", f"/api-keys/{key_id}")
    assert (key["data"]["name"], key["data"]["scopes"]) == ("ci", scopes)
    assert key["data"]["hint"] == f"qbr_{survivor[4:8]}…{survivor[-4:]}"
    _, listed = await api("GET", "/api-keys")
    assert [k["id"] for k in listed["data"]] == [key_id]


async def test_no_verification_succeeds_with_the_old_value_after_the_rotate_answer(api):
    _, created = await api("POST", "/api-keys", {"name": "through-rotation"})
    key_id, old = created["data"]["id"], created["data"]["value"]
    log: list[tuple[float, float, int]] = []  # (sent, answered, status), monotonic seconds
    answered = asyncio.Event()

    async def worker(n: int) -> None:
        for _ in range(n):
            sent = time.monotonic()
            status = await verify(api, old)
            log.append((sent, time.monotonic(), status))
            if len(log) >= 60:
                answered.set()
            await asyncio.sleep(0)

    workers = [asyncio.create_task(worker(25)) for _ in range(8)]  # 200 verifications
    await answered.wait()
    rotate_sent = time.monotonic()
    status, rotated = await api("POST", f"/api-keys/{key_id}/rotate")
    rotate_answered = time.monotonic()
    await asyncio.gather(*workers)
    assert status == 200 and len(log) == 200

    # refusals are 401, or 429 once this client's failures pass the rate limit (100): a
    # limited client's valid key would still get 200, so 429 is a refusal of the value too
    after = [s for sent, _, s in log if sent >= rotate_answered]
    before = [s for _, done, s in log if done <= rotate_sent]
    assert after and set(after) <= {401, 429}, "the old value worked after the rotate answer"
    assert before and set(before) == {200}
    assert {s for _, _, s in log} <= {200, 401, 429}
    new = rotated["data"]["value"]
    assert await asyncio.gather(*(verify(api, new) for _ in range(20))) == [200] * 20

    _, key = await api("GET", f"/api-keys/{key_id}")  # counted uses = successful verifications
    assert key["data"]["usage"]["total"] == sum(s == 200 for *_, s in log) + 20


async def test_concurrent_creates_with_one_name_one_wins(api):
    names = ["dup", " dup", "dup ", "  dup  "] * 10  # the same name once trimmed
    answers = await asyncio.gather(*(api("POST", "/api-keys", {"name": n}) for n in names))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (len(names) - 1)
    assert all(a["error"]["code"] == "NAME_TAKEN" for s, a in answers if s == 409)
    _, listed = await api("GET", "/api-keys")
    assert [k["name"] for k in listed["data"]] == ["dup"]
    winner = next(a["data"]["value"] for s, a in answers if s == 201)
    assert await verify(api, winner) == 200


async def test_concurrent_creates_through_the_jupyter_routes(keys_api):
    answers = await asyncio.gather(
        *(keys_api("POST", "api/v1/api-keys", body={"name": "same"}) for _ in range(20))
    )
    assert sorted(code for code, _ in answers) == [201] + [409] * 19
    _, listed = await keys_api("GET", "api/v1/api-keys")
    assert [(k["name"], k["stored"]) for k in listed["data"]] == [("same", True)]


class TestServesWhileUpstreamStalls:
    """Requests stuck on a stalled upstream do not hold up the rest of the server."""

    @pytest.fixture
    def upstream_config(self, faulty_upstreams):  # noqa: F811
        return {"upstream_url": f"{faulty_upstreams}/stall", "timeout": 3.0}

    async def test_other_requests_answer_quickly(self, keys_api, jp_fetch):
        started = time.monotonic()
        stuck = [asyncio.create_task(keys_api("GET", "api/v1/api-keys")) for _ in range(5)]
        await asyncio.sleep(0.3)
        for _ in range(5):
            t0 = time.monotonic()
            response = await jp_fetch("api", "status")
            assert response.code == 200 and time.monotonic() - t0 < 1.0
            t0 = time.monotonic()
            try:  # a route of the extension that needs no upstream
                await jp_fetch("qbraid-keys", "api", "v1", "nowhere")
            except HTTPClientError as err:
                assert err.code == 404 and json.loads(err.response.body)["success"] is False
            assert time.monotonic() - t0 < 1.0
        assert not any(task.done() for task in stuck)  # still waiting on the upstream meanwhile

        results = await asyncio.gather(*stuck)
        assert time.monotonic() - started < 3.0 + 2.0
        assert {(code, a["error"]["code"]) for code, a in results} == {(504, "UPSTREAM_TIMEOUT")}
