"""The key service's management routes: a wrong token is refused, compared in constant time, and
a key value (in either header) cannot manage keys."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from qbraid_keys_ext.service import accounts as service_accounts

TOKEN = "service-auth-account-token"
MANAGEMENT = [
    ("GET", "/api-key-scopes"),
    ("GET", "/api-keys"),
    ("POST", "/api-keys"),
    ("GET", "/api-keys/{id}"),
    ("PATCH", "/api-keys/{id}"),
    ("DELETE", "/api-keys/{id}"),
    ("POST", "/api-keys/{id}/rotate"),
]


@pytest.fixture
def service(start_service):
    return start_service(TOKEN)


async def call(url: str, method: str, headers: dict[str, str], body: object = None):
    if body is None and method in ("POST", "PATCH"):
        body = {"name": "intruder"} if method == "POST" else {"status": "inactive"}
    response = await AsyncHTTPClient().fetch(
        url,
        method=method,
        body=None if body is None else json.dumps(body),
        headers=headers,
        raise_error=False,
    )
    return response.code, json.loads(response.body)


async def create(service, name: str) -> dict:
    code, answer = await call(
        f"{service.url}/api/v1/api-keys", "POST", {"X-Access-Token": TOKEN}, {"name": name}
    )
    assert code == 201
    return answer["data"]


async def test_a_key_value_cannot_manage_keys(service):
    key = await create(service, "ci")
    value = key["value"]
    attempts = [
        {"X-Access-Token": value},
        {"X-API-Key": value},
        {"X-API-Key": value, "X-Access-Token": value},
        {"Authorization": f"Bearer {value}", "X-API-Key": value},
    ]
    for method, path in MANAGEMENT:
        url = f"{service.url}/api/v1{path.replace('{id}', key['id'])}"
        for headers in attempts:
            code, answer = await call(url, method, headers)
            assert (code, answer["error"]["code"]) == (401, "UNAUTHORIZED"), (method, path)
            assert value not in json.dumps(answer)
    # nothing changed: same key, same value, still active
    code, answer = await call(f"{service.url}/api/v1/api-keys", "GET", {"X-Access-Token": TOKEN})
    assert [(k["id"], k["status"], k["rotatedAt"]) for k in answer["data"]] == [
        (key["id"], "active", None)
    ]
    code, _ = await call(f"{service.url}/api/v1/users/verify", "GET", {"X-API-Key": value})
    assert code == 200


async def test_wrong_tokens_are_refused_on_every_management_route(service):
    key = await create(service, "target")
    # (surrounding blanks are not part of an HTTP header value, so " " + TOKEN is the token)
    wrong = ["", "x", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "a " + TOKEN, "t\u00e9st" * 9]
    for method, path in MANAGEMENT:
        url = f"{service.url}/api/v1{path.replace('{id}', key['id'])}"
        for token in wrong:
            headers = {"X-Access-Token": token} if token else {}
            code, answer = await call(url, method, headers)
            assert (code, answer["error"]["code"]) == (401, "UNAUTHORIZED"), (method, path, token)


async def test_the_token_decision_is_hmac_compare_digest(service, monkeypatch):
    """Deterministic: the answer follows `hmac.compare_digest` alone, called with both tokens.

    Patching the comparison flips the outcome both ways, so no other (early-exit) comparison
    of the token decides; a statistical timing test would be flaky on a shared machine.
    """
    calls: list[tuple[bytes, bytes]] = []
    verdict = {"value": False}

    def spy(given, expected):
        calls.append((given, expected))
        return verdict["value"]

    monkeypatch.setattr(service_accounts.hmac, "compare_digest", spy)
    url = f"{service.url}/api/v1/api-keys"

    verdict["value"] = False  # the right token, but the comparison says no
    code, _ = await call(url, "GET", {"X-Access-Token": TOKEN})
    assert code == 401
    assert calls == [(TOKEN.encode(), TOKEN.encode())]

    verdict["value"] = True  # a wrong token, but the comparison says yes
    code, _ = await call(url, "GET", {"X-Access-Token": "wrong-token-of-other-length"})
    assert code == 200
    assert calls[-1] == (b"wrong-token-of-other-length", TOKEN.encode())

    calls.clear()
    verdict["value"] = False
    for method, path in MANAGEMENT:
        await call(f"{service.url}/api/v1{path.replace('{id}', 'key_0')}", method, {})
    assert len(calls) == len(MANAGEMENT)  # every management route compares with it
    assert all(expected == TOKEN.encode() for _, expected in calls)
