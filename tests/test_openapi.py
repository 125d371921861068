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
RUNTIME = {
    ("/api/v1/devices", "get"),
    ("/api/v1/devices/{qrn}", "get"),
    ("/api/v1/jobs", "get"),
    ("/api/v1/jobs", "post"),
    ("/api/v1/jobs/{qrn}", "get"),
    ("/api/v1/jobs/{qrn}/result", "get"),
    ("/api/v1/jobs/{qrn}/program", "get"),
    ("/api/v1/jobs/{qrn}/cancel", "post"),
    ("/api/v1/billing/credits/balance", "get"),
}
AER = "qbraid:qiskit:sim:aer-simulator"
BELL = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; h q[0]; cx q[0], q[1];'
LONG = (  # minutes of simulation: still RUNNING when it is cancelled
    'OPENQASM 3.0; include "stdgates.inc"; qubit[20] q;'
    " for int i in [0:100] { h q; rz(0.1) q; cx q[0], q[1]; }"
)


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
        *RUNTIME,
    }
    for path, method in RUNTIME:  # Contract 5: key, account token or Hub token, a scope each
        operation = SPEC["paths"][path][method]
        assert operation["tags"] == ["runtime"]
        assert operation["security"] == [{"apiKey": []}, {"accessToken": []}, {"hubToken": []}]
        assert {"401", "403", "429"} <= set(operation["responses"])
        assert "501" not in operation["responses"]  # jobs run on both stores


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
    narrow = {}  # a key lacking each runtime scope
    for scope, other in (("credits:read", "devices:read"), ("", "credits:read")):
        body = {"name": f"without-{scope}", "scopes": [other]}
        narrow[scope] = (await call(f"{base}/api/v1/api-keys", "POST", body, auth))[1]["data"]
    job = {"deviceQrn": AER, "shots": 10, "program": {"format": "qasm3", "data": BELL}}
    everything = {
        "name": "runtime",
        "scopes": ["devices:read", "jobs:read", "jobs:write", "credits:read"],
    }
    _, runtime = await call(f"{base}/api/v1/api-keys", "POST", everything, auth)
    use = {"X-API-Key": runtime["data"]["value"]}  # the seed key is deactivated and rotated
    _, done = await call(f"{base}/api/v1/jobs", "POST", job, use)
    ended, queued = done["data"]["jobQrn"], None
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
        ("/api/v1/devices", "get"): (None, use, 200),
        ("/api/v1/devices/{qrn}", "get"): (None, use, 200),
        ("/api/v1/jobs", "get"): (None, use, 200),
        ("/api/v1/jobs", "post"): (job, use, 201),
        ("/api/v1/jobs/{qrn}", "get"): (None, use, 200),
        ("/api/v1/jobs/{qrn}/result", "get"): (None, use, 200),
        ("/api/v1/jobs/{qrn}/program", "get"): (None, use, 200),
        ("/api/v1/jobs/{qrn}/cancel", "post"): (None, auth, 200),
        ("/api/v1/billing/credits/balance", "get"): (None, use, 200),
    }
    assert set(requests) == set(operations())
    service.jobs.submit_wait = 0  # the job the cancel needs is still QUEUED or RUNNING
    long = {**job, "program": {"format": "qasm3", "data": LONG}}
    _, pending = await call(f"{base}/api/v1/jobs", "POST", long, use)
    queued = pending["data"]["jobQrn"]
    # verify before the key is deactivated, rotated or deleted
    order = sorted(requests, key=lambda op: (op[0] != "/api/v1/users/verify", op[1] == "delete"))
    for path, method in order:
        body, headers, expected = requests[(path, method)]
        target = victim["data"]["id"] if method == "delete" else key_id
        qrn = queued if path.endswith("/cancel") else AER if "devices" in path else ended
        url = base + path.replace("{id}", target).replace("{qrn}", qrn)
        if path == "/api/v1/users/verify":
            url += "?scope=jobs:write"
        status, answer = await call(url, method.upper(), body, headers)
        assert status == expected, (method, path, answer)
        check(response_schema(path, method, status), answer)

        if path != "/api/v1/users/verify":  # every management operation documents its 401
            status, answer = await call(url, method.upper(), body, {"X-Access-Token": "no"})
            assert status == 401
            check(response_schema(path, method, status), answer)
        if (path, method) in RUNTIME:  # and each runtime operation its 403
            lacking = narrow["credits:read" if "credits" in path else ""]["value"]
            status, answer = await call(url, method.upper(), body, {"X-API-Key": lacking})
            assert status == 403
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
        ("/api/v1/api-keys", "get", f"{base}/api-keys?limit=500", None, auth, 400),
        ("/api/v1/api-keys", "get", f"{base}/api-keys?cursor=e1", None, auth, 400),
        ("/api/v1/events", "get", f"{base}/events?cursor=zz", None, auth, 400),
        ("/api/v1/jobs", "post", f"{base}/jobs", {"deviceQrn": AER}, auth, 400),
        ("/api/v1/jobs", "post", f"{base}/jobs", {"name": "x" * 600_000}, auth, 413),
        ("/api/v1/jobs", "get", f"{base}/jobs?limit=0", None, auth, 400),
        ("/api/v1/jobs", "get", f"{base}/jobs", None, {"X-API-Key": bad}, 401),
        ("/api/v1/jobs/{qrn}", "get", f"{base}/jobs/nope", None, auth, 404),
        ("/api/v1/jobs/{qrn}/result", "get", f"{base}/jobs/nope/result", None, auth, 404),
        ("/api/v1/jobs/{qrn}/program", "get", f"{base}/jobs/nope/program", None, auth, 404),
        ("/api/v1/jobs/{qrn}/cancel", "post", f"{base}/jobs/nope/cancel", None, auth, 404),
        ("/api/v1/devices/{qrn}", "get", f"{base}/devices/a:b:c:d", None, auth, 404),
        ("/api/v1/devices", "get", f"{base}/devices", None, {"X-API-Key": value}, 403),
        ("/api/v1/billing/credits/balance", "get",
         f"{base}/billing/credits/balance?organizationId=x", None, auth, 404),
    ]  # fmt: skip
    for path, method, url, body, headers, expected in cases:
        status, answer = await call(url, method.upper(), body, headers)
        assert status == expected, (method, url, answer)
        check(response_schema(path, method, status), answer)


async def test_pages_of_keys_match_the_list_schema(service):
    """Every key, one page, a name and a search: each answer is one of the list's shapes."""
    auth = {"X-Access-Token": TOKEN}
    base = service.url + "/api/v1/api-keys"
    for name in ("a", "b", "c"):
        await call(base, "POST", {"name": name}, auth)
    schema = response_schema("/api/v1/api-keys", "get", 200)
    for query in ("", "?limit=2", "?name=B", "?q=c&limit=1"):
        status, answer = await call(base + query, "GET", None, auth)
        assert status == 200
        check(schema, answer)
        assert ("page" in answer) == bool(query)
    _, first = await call(base + "?limit=2", "GET", None, auth)
    _, rest = await call(f"{base}?limit=2&cursor={first['page']['next']}", "GET", None, auth)
    check(schema, rest)
    assert rest["page"] == {"next": None, "total": 3} and [k["name"] for k in rest["data"]] == ["a"]
