"""openapi.json describes the service: every documented operation is served and answers match."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
from tornado.httpclient import AsyncHTTPClient

TOKEN = "openapi-token"
METHODS = ("get", "post", "patch", "delete", "put")


def load_spec() -> dict[str, Any]:
    text = resources.files("qbraid_keys_ext.service").joinpath("openapi.json").read_text("utf-8")
    return json.loads(text)


SPEC = load_spec()


def to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 ``nullable`` into JSON Schema types (the rest is compatible)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


COMPONENTS = to_json_schema(copy.deepcopy(SPEC["components"]))


def check(schema: dict[str, Any], instance: Any) -> None:
    """Validate an answer against a response schema of the spec (with its $refs)."""
    full = {**to_json_schema(schema), "components": COMPONENTS}
    jsonschema.Draft202012Validator(full).validate(instance)


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    responses = SPEC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered undocumented {status}"
    return responses[str(status)]["content"]["application/json"]["schema"]


def operations() -> list[tuple[str, str]]:
    return [(p, m) for p, item in SPEC["paths"].items() for m in METHODS if m in item]


def test_spec_is_openapi_3_0_and_schemas_are_valid():
    assert SPEC["openapi"].startswith("3.0.")
    assert {"accessToken", "apiKey", "hubToken"} == set(SPEC["components"]["securitySchemes"])
    for schema in COMPONENTS["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert {(p, m) for p, m in operations()} == {
        ("/api/v1/api-key-scopes", "get"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys/{id}", "get"),
        ("/api/v1/api-keys/{id}", "patch"),
        ("/api/v1/api-keys/{id}", "delete"),
        ("/api/v1/api-keys/{id}/rotate", "post"),
        ("/api/v1/events", "get"),
        ("/api/v1/users/verify", "get"),
    }


def test_request_schemas_match_contract():
    schemas = SPEC["components"]["schemas"]
    create = schemas["CreateKey"]
    assert create["additionalProperties"] is False and create["required"] == ["name"]
    assert create["properties"]["name"]["minLength"] == 1
    assert create["properties"]["name"]["maxLength"] == 64
    assert schemas["UpdateKey"]["additionalProperties"] is False
    scopes = schemas["ScopeList"]["items"]["enum"]
    assert scopes == ["devices:read", "jobs:read", "jobs:write", "credits:read"]


@pytest.fixture
def service(start_service):
    return start_service(TOKEN)


async def call(url: str, method: str, body: Any = None, headers: dict | None = None):
    raw = None if body is None else json.dumps(body).encode()
    if raw is None and method in ("POST", "PATCH"):
        raw = b""
    response = await AsyncHTTPClient().fetch(
        url, method=method, body=raw, headers=headers or {}, raise_error=False
    )
    return response.code, json.loads(response.body)


async def test_every_operation_is_served_and_matches_its_schema(service):
    auth = {"X-Access-Token": TOKEN}
    base = service.url
    seed = {"name": "seed", "scopes": ["jobs:read", "jobs:write"]}
    _, created = await call(f"{base}/api/v1/api-keys", "POST", seed, auth)
    key_id, value = created["data"]["id"], created["data"]["value"]
    _, victim = await call(f"{base}/api/v1/api-keys", "POST", {"name": "victim"}, auth)
    requests = {
        ("/api/v1/api-key-scopes", "get"): (None, auth, 200),
        ("/api/v1/api-keys", "get"): (None, auth, 200),
        ("/api/v1/api-keys", "post"): ({"name": "new", "scopes": ["jobs:read"]}, auth, 201),
        ("/api/v1/api-keys/{id}", "get"): (None, auth, 200),
        ("/api/v1/api-keys/{id}", "patch"): ({"name": "seed2", "status": "inactive"}, auth, 200),
        ("/api/v1/api-keys/{id}", "delete"): (None, auth, 200),
        ("/api/v1/api-keys/{id}/rotate", "post"): (None, auth, 200),
        ("/api/v1/events", "get"): (None, auth, 200),
        ("/api/v1/users/verify", "get"): (None, {"X-API-Key": value}, 200),
    }
    assert set(requests) == set(operations())
    # verify before the key is deactivated, rotated or deleted
    order = sorted(requests, key=lambda op: (op[0] != "/api/v1/users/verify", op[1] == "delete"))
    for path, method in order:
        body, headers, expected = requests[(path, method)]
        target = victim["data"]["id"] if method == "delete" else key_id
        url = base + path.replace("{id}", target)
        if path == "/api/v1/users/verify":
            url += "?scope=jobs:write"
        status, answer = await call(url, method.upper(), body, headers)
        assert status == expected, (method, path, answer)
        check(response_schema(path, method, status), answer)

        if path != "/api/v1/users/verify":  # every management operation documents its 401
            status, answer = await call(url, method.upper(), body, {"X-Access-Token": "no"})
            assert status == 401
            check(response_schema(path, method, status), answer)


async def test_error_answers_match_their_schemas(service):
    auth = {"X-Access-Token": TOKEN}
    base = service.url + "/api/v1"
    _, created = await call(
        f"{base}/api-keys", "POST", {"name": "a", "scopes": ["jobs:read"]}, auth
    )
    value = created["data"]["value"]
    bad = value[:-1] + ("0" if value[-1] != "0" else "1")
    cases = [
        ("/api/v1/api-keys", "post", f"{base}/api-keys", {"name": ""}, auth, 400),
        ("/api/v1/api-keys", "post", f"{base}/api-keys", {"name": "a"}, auth, 409),
        ("/api/v1/api-keys", "post", f"{base}/api-keys", {"name": "x" * 70000}, auth, 413),
        ("/api/v1/api-keys/{id}", "get", f"{base}/api-keys/key_0", None, auth, 404),
        ("/api/v1/api-keys/{id}", "patch", f"{base}/api-keys/key_0", {}, auth, 404),
        ("/api/v1/api-keys/{id}", "delete", f"{base}/api-keys/key_0", None, auth, 404),
        ("/api/v1/api-keys/{id}/rotate", "post", f"{base}/api-keys/key_0/rotate", None, auth, 404),
        ("/api/v1/users/verify", "get", f"{base}/users/verify", None, {"X-API-Key": bad}, 401),
        ("/api/v1/users/verify", "get", f"{base}/users/verify?scope=jobs:write", None,
         {"X-API-Key": value}, 403),
        ("/api/v1/users/verify", "get", f"{base}/users/verify?scope=x", None, {}, 400),
        ("/api/v1/events", "get", f"{base}/events?limit=500", None, auth, 400),
        ("/api/v1/events", "get", f"{base}/events?cursor=zz", None, auth, 400),
    ]  # fmt: skip
    for path, method, url, body, headers, expected in cases:
        status, answer = await call(url, method.upper(), body, headers)
        assert status == expected, (method, url, answer)
        check(response_schema(path, method, status), answer)
