"""Schemathesis fuzzing of the key API: the embedded service and the Jupyter routes.

Cases come from `qbraid_keys_ext/service/openapi.json` (positive and negative generation); for
the Jupyter routes the document is rewritten to Contract 2: `/api/v1/X` becomes
`{base_url}qbraid-keys/api/v1/X`, `users/verify` is dropped, authentication is the server's
`Authorization: token ...`, key objects gain `stored` (and create/rotate `storeError`), create
accepts `"store": bool`, and the server's own 403 is documented. Every answer must be below 500
and match the document (status code, content type, headers, JSON schema). Hand-written
hostile inputs the generator rarely makes (JSON nested past the recursion limit, invalid
UTF-8, lone surrogates, NaN) follow, on both targets and as an upstream's answer.

Each run is bounded and reproducible (Hypothesis `derandomize=True`, no example database):
`QBRAID_KEYS_FUZZ_EXAMPLES` cases per target (default 500). A longer, randomised run:

    QBRAID_KEYS_FUZZ_EXAMPLES=20000 QBRAID_KEYS_FUZZ_SEED=random \\
        python -m pytest tests/test_fuzz.py -p no:cacheprovider --timeout 3600 -q

(`QBRAID_KEYS_FUZZ_SEED=<int>` replays one seed; `random` picks one and prints it.)
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pytest
import requests
import schemathesis
import tornado.web
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from qbraid_keys_ext.service import KeyService

from .loopback import ThreadedServer, serve_app

EXAMPLES = int(os.environ.get("QBRAID_KEYS_FUZZ_EXAMPLES", "500"))
SEED = os.environ.get("QBRAID_KEYS_FUZZ_SEED", "")
TOKEN = "fuzz-account-token"
AER = "qbraid:qiskit:sim:aer-simulator"
BELL = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1];'
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
"""Not `negative_data_rejection`: the API ignores unknown query parameters and headers, as HTTP
APIs do, and the harness (not the case) supplies the credentials."""

pytestmark = pytest.mark.timeout(max(300, EXAMPLES // 2))


def service_spec() -> dict[str, Any]:
    """openapi.json of the key service (Contract 1)."""
    text = resources.files("qbraid_keys_ext.service").joinpath("openapi.json").read_text("utf-8")
    return json.loads(text)


def _error_schema(*codes: str) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": "#/components/schemas/Error"},
            {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}},
        ]
    }


def runtime_paths(spec: dict[str, Any]) -> set[str]:
    """Contract 5's paths (operations tagged `runtime`): served by the key service only."""
    return {
        path
        for path, item in spec["paths"].items()
        if any("runtime" in op.get("tags", ()) for op in item.values() if isinstance(op, dict))
    }


def jupyter_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Contract 2 derived from Contract 1: the proxy's paths, authentication and extra fields."""
    spec = copy.deepcopy(spec)
    skipped = {"/api/v1/users/verify", *runtime_paths(spec)}
    spec["paths"] = {
        path.replace("/api/v1/", "/qbraid-keys/api/v1/", 1): item
        for path, item in spec["paths"].items()
        if path not in skipped
    }
    spec["components"]["securitySchemes"] = {
        "jupyterToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
    }
    spec["security"] = [{"jupyterToken": []}]
    schemas = spec["components"]["schemas"]
    for name in ("Key", "KeyWithValue", "KeyListItem"):
        schemas[name]["properties"]["stored"] = {"type": "boolean"}
        schemas[name]["required"].append("stored")
    schemas["KeyWithValue"]["properties"]["storeError"] = {"type": "string"}
    schemas["Deleted"]["properties"]["keyringError"] = {"type": "string"}
    schemas["CreateKey"]["properties"]["store"] = {"type": "boolean"}
    schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"] += [
        "FORBIDDEN",
        "KEYRING_UNAVAILABLE",
    ]
    refused = {
        "description": "The Jupyter server refused the request (no or wrong credentials).",
        "content": {"application/json": {"schema": _error_schema("UNAUTHORIZED", "FORBIDDEN")}},
    }
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                operation["responses"].setdefault("403", refused)
                operation["responses"]["401"] = refused
    return spec


@dataclass
class Report:
    """What a fuzz run sent and got back."""

    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        rows = [
            f"{op} {mode} -> {status}: {n}"
            for (op, mode, status), n in sorted(self.statuses.items())
        ]
        return f"{self.cases} cases\n" + "\n".join(rows)


def fuzz(
    spec: dict[str, Any],
    base_url: str,
    headers: Callable[[str], dict[str, str]],
    key_ids: list[str],
    examples: int = EXAMPLES,
    qrns: list[str] = (),  # type: ignore[assignment]
) -> Report:
    """Send `examples` generated cases to `base_url`; check every answer against `spec`.

    Operations on `{id}` are also generated with the ids of existing keys, so the success
    paths of get, patch, rotate and delete are reached, not only 404; likewise `{qrn}` with
    the QRNs of existing jobs and devices.
    """
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    strategies = []
    for operation in operations:
        ids: list[dict[str, str] | None] = [None]
        if "{id}" in operation.path:
            ids += [{"id": key_id} for key_id in key_ids]
        if "{qrn}" in operation.path:
            ids += [{"qrn": qrn} for qrn in qrns]
        for path_parameters in ids:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategies.append(operation.as_strategy(mode, path_parameters=path_parameters))
            if operation.body:  # negative bodies with valid credentials, not only missing ones
                fixed = headers(operation.path)
                strategies.append(
                    operation.as_strategy(
                        GenerationMode.NEGATIVE, path_parameters=path_parameters, headers=fixed
                    )
                )
    report = Report()
    session = requests.Session()

    def run(case: schemathesis.Case) -> None:
        sent = headers(case.operation.path)
        response = case.call(base_url=base_url, session=session, headers=sent, timeout=30)
        session.cookies.clear()  # no login cookie: a case without credentials is anonymous
        report.cases += 1
        mode = case.meta.generation.mode.value if case.meta else "?"
        report.statuses[(case.operation.label, mode, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=sent)
        except AssertionError as failure:  # schemathesis failures are AssertionErrors
            title = (
                f"{case.operation.label} -> {response.status_code}: {str(failure).splitlines()[0]}"
            )
            report.failures.setdefault(title, str(failure)[:3000])

    test = given(case=st.one_of(strategies))(run)
    test = settings(
        max_examples=examples,
        deadline=None,
        derandomize=not SEED,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(test)
    if SEED:
        chosen = random.randrange(2**32) if SEED == "random" else int(SEED)
        print(f"QBRAID_KEYS_FUZZ_SEED={chosen}")
        test = seed(chosen)(test)
    try:
        test()
    finally:
        session.close()
    return report


def assert_clean(report: Report) -> None:
    assert report.cases >= EXAMPLES, report.summary()
    assert not report.failures, "\n\n".join(report.failures.values()) + "\n\n" + report.summary()
    assert not any(status >= 500 for _, _, status in report.statuses), report.summary()


def test_derived_jupyter_document_is_contract_2():
    spec = jupyter_spec(service_spec())
    assert not any("/devices" in p or "/jobs" in p or "/billing" in p for p in spec["paths"])
    assert sorted(spec["paths"]) == [
        "/qbraid-keys/api/v1/api-key-scopes",
        "/qbraid-keys/api/v1/api-keys",
        "/qbraid-keys/api/v1/api-keys/{id}",
        "/qbraid-keys/api/v1/api-keys/{id}/rotate",
        "/qbraid-keys/api/v1/events",
    ]
    assert schemathesis.openapi.from_dict(spec)  # still a valid document
    assert service_spec()["paths"]["/api/v1/users/verify"]  # the original is untouched


@pytest.fixture
def standalone(tmp_path):
    """The key service in its own thread, as `python -m qbraid_keys_ext.service` runs it."""
    service = KeyService(tmp_path / "keys.sqlite3", TOKEN)
    with ThreadedServer(lambda: service.start("127.0.0.1", 0), service.stop) as server:
        yield server.url


def test_fuzz_embedded_service(standalone):
    session = requests.Session()
    auth = {"X-Access-Token": TOKEN}
    created = session.post(
        f"{standalone}/api/v1/api-keys", json={"name": "verify-me"}, headers=auth
    )
    value = created.json()["data"]["value"]
    ids = [
        session.post(f"{standalone}/api/v1/api-keys", json={"name": f"k{i}"}, headers=auth).json()[
            "data"
        ]["id"]
        for i in range(3)
    ]
    every = {"name": "jobs", "scopes": ["devices:read", "jobs:read", "jobs:write", "credits:read"]}
    runner = session.post(f"{standalone}/api/v1/api-keys", json=every, headers=auth).json()
    use = {"X-API-Key": runner["data"]["value"]}
    job = {"deviceQrn": AER, "shots": 10, "program": {"format": "qasm2", "data": BELL}}
    qrns = [
        session.post(f"{standalone}/api/v1/jobs", json=job, headers=use).json()["data"]["jobQrn"]
    ]
    session.close()
    runtime = runtime_paths(service_spec())

    def headers(path: str) -> dict[str, str]:
        if path.endswith("/users/verify"):
            return {"X-API-Key": value}
        return use if path in runtime else auth

    report = fuzz(service_spec(), standalone, headers, ids, qrns=[*qrns, AER])
    print(report.summary())
    assert_clean(report)
    verified = sum(
        n for (op, _, code), n in report.statuses.items() if "verify" in op and code == 200
    )
    created_n = sum(
        n
        for (op, _, code), n in report.statuses.items()
        if op.startswith("POST /api/v1/api-keys") and code == 201
    )
    assert verified > 0 and created_n > 0  # the success paths were reached


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path, monkeypatch):
    """Our file keyring in this test's folder, so create and rotate store values quickly."""
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "file")
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(tmp_path / "keyring" / "keyring.json"))
    return jp_server_config


async def test_fuzz_jupyter_routes(jp_serverapp, jp_http_port, jp_base_url, keys_api):
    ids = []
    for i in range(3):
        code, created = await keys_api("POST", "api/v1/api-keys", body={"name": f"k{i}"})
        assert code == 201
        ids.append(created["data"]["id"])
    token = jp_serverapp.identity_provider.token
    base = f"http://localhost:{jp_http_port}{jp_base_url.rstrip('/')}"

    def headers(path: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    spec = jupyter_spec(service_spec())
    # the server runs in this loop: the (blocking) fuzzer runs in a thread meanwhile
    report = await asyncio.get_running_loop().run_in_executor(None, fuzz, spec, base, headers, ids)
    print(report.summary())
    assert_clean(report)
    created_n = sum(
        n for (op, _, code), n in report.statuses.items() if op.startswith("POST") and code == 201
    )
    assert created_n > 0


HOSTILE_BODIES = [
    b"[" * 30000 + b"]" * 30000,  # nested past Python's recursion limit (was a 500 in the proxy)
    b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"name": ' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}",
    b"\xff\xfe\x00",
    b'{"name": "\\ud800"}',
    b'{"name": 1e999, "scopes": NaN}',
    b'{"name": "a", "name": "b", "scopes": ["jobs:read", "jobs:read"]}',
    b"null",
]


def test_hostile_bodies_on_the_service(standalone):
    with requests.Session() as session:
        for raw in HOSTILE_BODIES:
            for method, path in [("POST", "/api-keys"), ("PATCH", "/api-keys/key_0")]:
                response = session.request(
                    method,
                    f"{standalone}/api/v1{path}",
                    data=raw,
                    headers={"X-Access-Token": TOKEN},
                )
                assert 400 <= response.status_code < 500, (method, raw[:30], response.text)
                assert response.json()["success"] is False


async def test_hostile_bodies_through_the_jupyter_routes(keys_api):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "target"})
    key_id = created["data"]["id"]
    for raw in HOSTILE_BODIES:
        for method, path in [
            ("POST", ("api/v1/api-keys",)),
            ("PATCH", ("api/v1/api-keys", key_id)),
        ]:
            code, answer = await keys_api(method, *path, raw=raw)
            assert 400 <= code < 500, (method, raw[:30], answer)
            assert answer["success"] is False


class Nested(tornado.web.RequestHandler):
    def get(self, *args):
        self.finish(b'{"success": true, "data": ' + b"[" * 50000 + b"]" * 50000 + b"}")


@pytest.fixture
def nested_upstream():
    """An upstream answering JSON nested deeper than Python can parse."""
    with serve_app(tornado.web.Application([(r"/(.*)", Nested)])) as server:
        yield server.url


class TestHostileUpstreamAnswer:
    @pytest.fixture
    def upstream_config(self, nested_upstream):
        return {"upstream_url": nested_upstream, "timeout": 5.0}

    async def test_deeply_nested_json_is_a_clear_502(self, keys_api):
        code, answer = await keys_api("GET", "api/v1/api-keys")  # was a 500
        assert (code, answer["error"]["code"]) == (502, "UPSTREAM_UNAVAILABLE")
        assert "not JSON" in answer["message"]
