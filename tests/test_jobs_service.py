"""Contract 5 on the key service itself: scopes on every route, usage, credits, bad programs,
job states, cancel, limits and restarts, over HTTP against a real service and simulator, on
each store (SQLite and PostgreSQL: `store_db`)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from qbraid_keys_ext.service import KeyService
from qbraid_keys_ext.service import devices as catalogue
from qbraid_keys_ext.service.backends import is_postgres_url
from qbraid_keys_ext.service.jobs import QuantumJobs

TOKEN = "jobs-account-token"
AER = "qbraid:qiskit:sim:aer-simulator"
ALL_SCOPES = ["devices:read", "jobs:read", "jobs:write", "credits:read"]
BELL2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""
BELL3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""
# 20 qubits in a loop: simulated shot by shot, minutes of work (stopped by the tests)
LONG = (
    'OPENQASM 3.0; include "stdgates.inc"; qubit[20] q; bit[20] c;'
    " for int i in [0:100] { h q; rz(0.1) q; cx q[0], q[1]; } c = measure q;"
)
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


class Api:
    """Calls to one key service: `(status, answer)`; `key=` sends X-API-Key, else the token."""

    def __init__(self, url: str) -> None:
        self.url = url + "/api/v1"

    async def __call__(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, **headers: str
    ) -> tuple[int, dict]:
        if key is not None:
            headers["X-API-Key"] = key
        elif not headers:
            headers["X-Access-Token"] = TOKEN
        raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        if raw is None and method == "POST":
            raw = b""
        response = await AsyncHTTPClient().fetch(
            self.url + path,
            method=method,
            body=raw,
            headers=headers,
            raise_error=False,
            request_timeout=60,
        )
        return response.code, json.loads(response.body)

    async def key(self, name: str, scopes: list[str] = ALL_SCOPES) -> dict:
        code, answer = await self("POST", "/api-keys", {"name": name, "scopes": scopes})
        assert code == 201, answer
        return answer["data"]

    async def submit(self, key: str, data: str = BELL2, fmt: str = "qasm2", **fields) -> dict:
        body = {"deviceQrn": AER, "shots": 100, "program": {"format": fmt, "data": data}, **fields}
        code, answer = await self("POST", "/jobs", body, key=key)
        assert code == 201, answer
        return answer["data"]

    async def ended(self, key: str, qrn: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            code, answer = await self("GET", f"/jobs/{qrn}", key=key)
            assert code == 200, answer
            if answer["data"]["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                return answer["data"]
            assert time.monotonic() < deadline, answer["data"]
            await asyncio.sleep(0.05)

    async def status_becomes(self, key: str, qrn: str, status: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (await self("GET", f"/jobs/{qrn}", key=key))[1]["data"]["status"] != status:
            assert time.monotonic() < deadline, f"{qrn} never became {status}"
            await asyncio.sleep(0.05)

    async def balance(self) -> Decimal:
        code, answer = await self("GET", "/billing/credits/balance")
        assert code == 200, answer
        return Decimal(str(answer["data"]["qbraidCredits"]))


@pytest.fixture
def service(start_service, store_db):
    return start_service(TOKEN, db=store_db, flush_interval=3600)


@pytest.fixture
def api(service) -> Api:
    return Api(service.url)


def routes(qrn: str) -> list[tuple[str, str, str, Any]]:
    """(method, path, scope, body) of every Contract 5 route."""
    submit = {"deviceQrn": AER, "shots": 10, "program": {"format": "qasm2", "data": BELL2}}
    return [
        ("GET", "/devices?retired=false", "devices:read", None),
        ("GET", f"/devices/{AER}", "devices:read", None),
        ("POST", "/jobs", "jobs:write", submit),
        ("GET", "/jobs", "jobs:read", None),
        ("GET", f"/jobs/{qrn}", "jobs:read", None),
        ("GET", f"/jobs/{qrn}/result", "jobs:read", None),
        ("GET", f"/jobs/{qrn}/program", "jobs:read", None),
        ("POST", f"/jobs/{qrn}/cancel", "jobs:write", None),
        ("GET", "/billing/credits/balance?organizationId=local-org", "credits:read", None),
    ]


async def test_every_route_needs_its_scope_and_nothing_else(api):
    full = (await api.key("full"))["value"]
    qrn = (await api.submit(full))["jobQrn"]
    keys = {scope: (await api.key(f"only-{scope}", [scope]))["value"] for scope in ALL_SCOPES}
    for method, path, scope, body in routes(qrn):
        for held, value in keys.items():
            code, answer = await api(method, path, body, key=value)
            if held == scope:
                assert code in (200, 201, 400), (
                    method,
                    path,
                    answer,
                )  # 400: cancel of an ended job
            else:
                assert (code, answer["error"]["code"]) == (403, "INSUFFICIENT_SCOPE"), (path, held)
                assert scope in answer["message"], answer
        code, answer = await api(method, path, body)  # the account token holds every scope
        assert code in (200, 201, 400), (method, path, answer)
        code, answer = await api(method, path, body, Authorization="token nope")
        assert (code, answer["error"]["code"]) == (401, "UNAUTHORIZED"), path
        code, answer = await api(method, path, body, key=full[:-1] + "x")
        assert (code, answer["error"]["code"]) == (401, "INVALID_API_KEY"), path


@pytest.fixture
def limited(start_service, store_db) -> Api:
    return Api(start_service(TOKEN, db=store_db, rate_limit=3, rate_window=60).url)


async def test_wrong_keys_count_toward_the_rate_limit(limited):
    api = limited
    for _ in range(3):
        code, _ = await api("GET", "/devices", key="qbr_" + "0" * 64)
        assert code == 401
    code, answer = await api("GET", "/jobs", **{"X-Access-Token": "wrong"})
    assert (code, answer["error"]["code"]) == (429, "RATE_LIMITED")
    value = (await api.key("good"))["value"]
    assert (await api("GET", "/devices", key=value))[0] == 200  # a valid key still gets through


async def test_each_request_with_a_key_is_one_use(api, service):
    key = await api.key("counted")
    qrn = (await api.submit(key["value"]))["jobQrn"]
    for method, path, _scope, body in routes(qrn):
        assert (await api(method, path, body, key=key["value"]))[0] in (200, 201, 400)
    await service.flush()
    _, answer = await api("GET", f"/api-keys/{key['id']}")
    usage = answer["data"]["usage"]
    assert usage["total"] == 1 + len(routes(qrn)), usage
    assert usage["daily"][-1]["count"] == usage["total"]
    assert answer["data"]["lastUsedAt"] is not None


async def test_devices_state_their_limits_and_price(api):
    value = (await api.key("reader", ["devices:read"]))["value"]
    code, answer = await api("GET", "/devices?retired=false", key=value)
    assert code == 200
    [device] = answer["data"]
    assert device["qrn"] == AER and len(device["qrn"].split(":")) == 4
    assert device["deviceType"] == "SIMULATOR" and device["status"] == "ONLINE"
    assert device["paradigm"] == "gate_model" and device["directAccess"] is True
    assert device["runInputTypes"] == ["qasm2", "qasm3"]
    assert device["limits"] == {
        "maxQubits": 20,
        "maxShots": 100_000,
        "maxRunSeconds": 30.0,
        "maxProgramBytes": 256 * 1024,
    }
    assert device["numberQubits"] == 20 and device["maxShots"] == 100_000
    assert device["pricing"] == {"perTask": 0.1, "perShot": 0.0001, "perMinute": 0.0}
    code, answer = await api("GET", "/devices/aws:aws:sim:sv1", key=value)
    assert (code, answer["error"]["code"]) == (404, "NOT_FOUND")


async def test_jobs_run_qasm2_and_qasm3_and_cost_credits(api):
    value = (await api.key("ci"))["value"]
    start = await api.balance()
    assert start == 1000
    spent = Decimal(0)
    for fmt, data in (("qasm2", BELL2), ("qasm3", BELL3)):
        job = await api.submit(value, data, fmt, shots=1000, name=f"bell-{fmt}", tags={"k": "v"})
        job = await api.ended(value, job["jobQrn"])
        assert job["status"] == "COMPLETED", job
        assert job["estimatedCost"] == job["cost"] == 0.2  # 0.1 per job + 1,000 x 0.0001
        spent += Decimal("0.2")
        assert job["timeStamps"]["endedAt"] and job["timeStamps"]["executionDuration"] >= 0
        _, result = await api("GET", f"/jobs/{job['jobQrn']}/result", key=value)
        counts = result["data"]["resultData"]["measurementCounts"]
        assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
        assert result["data"]["cost"] == 0.2 and result["data"]["status"] == "COMPLETED"
        _, program = await api("GET", f"/jobs/{job['jobQrn']}/program", key=value)
        assert program["data"] == {"format": fmt, "data": data}
    assert await api.balance() == start - spent
    _, listed = await api("GET", "/jobs?statusGroup=returned&tags=%7B%22k%22%3A%22v%22%7D")
    assert [j["name"] for j in listed["data"]] == ["bell-qasm3", "bell-qasm2"]
    assert listed["pagination"] == {
        "page": 1, "limit": 100, "total": 2, "totalPages": 1, "hasNext": False, "hasPrev": False
    }  # fmt: skip
    _, listed = await api("GET", "/jobs?limit=1&page=2&search=bell")
    assert [j["name"] for j in listed["data"]] == ["bell-qasm2"]
    assert listed["pagination"]["hasPrev"] and not listed["pagination"]["hasNext"]


async def test_seed_gives_the_same_counts(api):
    value = (await api.key("seeded"))["value"]
    counts = []
    for _ in range(2):
        job = await api.submit(value, BELL3, "qasm3", runtimeOptions={"seed": 7})
        await api.ended(value, job["jobQrn"])
        _, result = await api("GET", f"/jobs/{job['jobQrn']}/result", key=value)
        counts.append(result["data"]["resultData"]["measurementCounts"])
    assert counts[0] == counts[1]


async def test_bad_programs_end_failed_with_a_message_and_cost_nothing(api):
    value = (await api.key("ci"))["value"]
    start = await api.balance()
    wide = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[21]; creg c[21]; h q[0]; measure q -> c;'
    cases = [
        ("qasm2", "this is not qasm", "OpenQASM 2 program does not parse"),
        ("qasm3", "OPENQASM 3.0; qubit[2] q; frobnicate q;", "OpenQASM 3 program does not parse"),
        ("qasm3", "OPENQASM 3.0; garbage", "no viable alternative"),
        ("qasm2", 'OPENQASM 2.0; include "qelib1.inc"; creg c[1];', "declares no qubits"),
        ("qasm2", wide, "uses 21 qubits; this device runs at most 20"),
        ("qasm2", 'OPENQASM 2.0; include "/etc/hostname"; qreg q[1];', "unable to find"),
        ("qasm3", 'OPENQASM 3.0; include "/etc/hostname"; qubit q;', "not currently supported"),
        ("qasm2", BELL2 + "// padding\n" * 30000, "takes at most 262,144"),
    ]
    for fmt, data, expected in cases:
        job = await api.ended(value, (await api.submit(value, data, fmt))["jobQrn"])
        assert job["status"] == "FAILED", job
        assert expected in job["statusMsg"], job["statusMsg"]
        assert job["cost"] == 0
        code, result = await api("GET", f"/jobs/{job['jobQrn']}/result", key=value)
        assert code == 200 and result["data"]["resultData"] == {}
    assert await api.balance() == start
    # a good job still runs after all that
    job = await api.ended(value, (await api.submit(value))["jobQrn"])
    assert job["status"] == "COMPLETED"


async def test_bad_submissions_are_400_and_charge_nothing(api):
    value = (await api.key("ci"))["value"]
    start = await api.balance()
    good = {"deviceQrn": AER, "shots": 10, "program": {"format": "qasm2", "data": BELL2}}
    bad = [
        {**good, "shots": 0},
        {**good, "shots": 100_001},
        {**good, "shots": True},
        {**good, "shots": "10"},
        {**good, "deviceQrn": "aws:aws:sim:sv1"},
        {**good, "deviceQrn": None},
        {**good, "program": None},
        {**good, "program": [good["program"], good["program"]]},
        {**good, "program": {"format": "quil", "data": "H 0"}},
        {**good, "program": {"format": "qasm2", "data": 42}},
        {**good, "program": {"format": "qasm2", "data": "\ud800"}},
        {**good, "tags": {"a": [1]}},
        {**good, "tags": "x"},
        {**good, "runtimeOptions": [1]},
        {**good, "runtimeOptions": {"seed": -1}},
        {**good, "name": "x" * 257},
        {**good, "groupJobQrn": "group-1"},
        # NUL characters: PostgreSQL text cannot hold them, so neither store takes them
        {**good, "name": "a\x00b"},
        {**good, "program": {"format": "qasm2", "data": BELL2 + "\x00"}},
        {**good, "tags": {"a": "\x00"}},
        {**good, "runtimeOptions": {"k\x00": [1]}},
    ]
    for body in bad:
        code, answer = await api("POST", "/jobs", body, key=value)
        assert (code, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), (body, answer)
    for raw in (b"{", b"[]", b'{"shots": NaN}', b"\xff"):
        code, answer = await api("POST", "/jobs", raw, key=value)
        assert code == 400, (raw, answer)
    code, answer = await api("POST", "/jobs", {**good, "runtimeOptions": {"x": float("nan")}})
    assert code == 400
    code, answer = await api("POST", "/jobs", b"x" * (513 * 1024), key=value)
    assert (code, answer["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    for query in ("page=0", "limit=101", "limit=x", "status=DONE", "statusGroup=x", "tags=[1]"):
        code, answer = await api("GET", f"/jobs?{query}", key=value)
        assert (code, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), query
    for query in ("search=%00", "deviceQrn=a%00", 'tags={"a":"%00"}', "vendor=%00"):
        code, answer = await api("GET", f"/jobs?{query}", key=value)
        assert (code, answer["data"]) == (200, []), query  # no job holds such text
    code, answer = await api("GET", "/jobs/a%00b", key=value)
    assert (code, answer["error"]["code"]) == (404, "NOT_FOUND")
    code, answer = await api("GET", "/billing/credits/balance?organizationId=other-org")
    assert (code, answer["error"]["code"]) == (404, "NOT_FOUND")
    code, answer = await api("GET", "/jobs", key=value)
    assert answer["data"] == [] and await api.balance() == start


@pytest.fixture
def poor(start_service, store_db) -> Api:
    return Api(start_service(TOKEN, db=store_db, credits="0.15").url)


async def test_a_job_the_balance_cannot_pay_is_402(poor):
    api = poor
    value = (await api.key("poor"))["value"]
    code, answer = await api(
        "POST",
        "/jobs",
        {"deviceQrn": AER, "shots": 1000, "program": {"format": "qasm2", "data": BELL2}},
        key=value,
    )
    assert (code, answer["error"]["code"]) == (402, "INSUFFICIENT_CREDITS")
    assert "0.2 credits" in answer["message"] and "0.15" in answer["message"]
    job = await api.submit(value, shots=500)  # 0.15 exactly
    assert (await api.ended(value, job["jobQrn"]))["status"] == "COMPLETED"
    assert await api.balance() == 0


@pytest.fixture
def one_worker(start_service, store_db) -> Api:
    service = start_service(TOKEN, db=store_db, job_workers=1)
    service.jobs.submit_wait = 0
    return Api(service.url)


async def test_queue_cancel_and_time_limit(one_worker, monkeypatch):
    api = one_worker
    value = (await api.key("ci"))["value"]
    start = await api.balance()
    running = await api.submit(value, LONG, "qasm3", shots=10)
    await api.status_becomes(value, running["jobQrn"], "RUNNING")
    queued = await api.submit(value)
    assert queued["status"] == "QUEUED" and queued["queuePosition"] == 0
    code, answer = await api("GET", f"/devices/{AER}", key=value)
    assert answer["data"]["queueDepth"] == 2
    code, answer = await api("POST", f"/jobs/{queued['jobQrn']}/cancel", key=value)
    assert code == 200 and answer["data"]["status"] == "CANCELLED"
    code, answer = await api("POST", f"/jobs/{running['jobQrn']}/cancel", key=value)
    assert code == 200 and answer["data"]["status"] == "CANCELLED"
    assert answer["data"]["statusMsg"] == "Cancelled while running." and answer["data"]["cost"] == 0
    code, answer = await api("POST", f"/jobs/{running['jobQrn']}/cancel", key=value)
    assert (code, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert "already CANCELLED" in answer["message"]
    assert await api.balance() == start
    # the cancelled job's simulator was stopped: the next job runs on a new one
    job = await api.ended(value, (await api.submit(value))["jobQrn"])
    assert job["status"] == "COMPLETED"
    # a job past the device's run-time limit is stopped and FAILED
    short = dataclasses.replace(catalogue.AER.limits, max_run_seconds=2.0)
    monkeypatch.setitem(catalogue.DEVICES, AER, dataclasses.replace(catalogue.AER, limits=short))
    job = await api.ended(value, (await api.submit(value, LONG, "qasm3", shots=10))["jobQrn"])
    assert job["status"] == "FAILED" and "longer than the device's limit of 2 s" in job["statusMsg"]
    code, answer = await api("GET", "/jobs/qbraid:qiskit:sim:aer-simulator-0000/result", key=value)
    assert (code, answer["error"]["code"]) == (404, "NOT_FOUND")


def _sql(db: str, sql: str, *params: Any) -> list[tuple]:
    """Run one statement (``?`` placeholders) on a service's database, SQLite or PostgreSQL."""
    if is_postgres_url(db):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_jobs_left_pending_run_after_a_restart(store_db, monkeypatch):
    db = store_db

    async def idle(self, worker):  # this service never runs a job
        await asyncio.Event().wait()

    with monkeypatch.context() as patch:
        patch.setattr(QuantumJobs, "_slot", idle)
        first = KeyService(db, TOKEN)
        await first.start()
        api = Api(first.url)
        first.jobs.submit_wait = 0
        value = (await api.key("ci"))["value"]
        qrns = [(await api.submit(value, shots=100 + i))["jobQrn"] for i in range(3)]
        balance = await api.balance()
        await first.stop()
    # as if the service died mid-run (SIGKILL): one RUNNING, one retried twice
    _sql(db, "UPDATE jobs SET status = 'RUNNING', attempts = 1 WHERE qrn = ?", qrns[0])
    _sql(db, "UPDATE jobs SET status = 'RUNNING', attempts = 3 WHERE qrn = ?", qrns[2])
    second = KeyService(db, TOKEN)
    await second.start()
    try:
        api = Api(second.url)
        for qrn in qrns[:2]:
            job = await api.ended(value, qrn)
            assert job["status"] == "COMPLETED", job
        job = await api.ended(value, qrns[2])
        assert (
            job["status"] == "FAILED"
            and "stopped while running this job 3 times" in job["statusMsg"]
        )
        # charged once each, the abandoned one given back
        assert await api.balance() == balance + Decimal("0.1") + Decimal("0.0102")
    finally:
        await second.stop()


def _start_standalone(db: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "QBRAID_KEYS_ACCESS_TOKEN": TOKEN}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbraid_keys_ext.service", "--db", db, "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line
    return proc, line.split()[-1]


def _simulators_of(service_pid: int) -> list[int]:
    """Simulator worker processes started by that key service process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"QBRAID_KEYS_SIMULATOR_PARENT={service_pid}".encode() in environ:
            found.append(int(entry.name))
    return found


async def test_sigkill_mid_job_then_restart_runs_it_again(store_db):
    db = store_db
    proc, url = _start_standalone(db)
    try:
        api = Api(url)
        value = (await api.key("ci"))["value"]
        long = await api.submit(value, LONG, "qasm3", shots=10)
        await api.status_becomes(value, long["jobQrn"], "RUNNING")
        queued = await api.submit(value)
        assert queued["status"] in ("QUEUED", "RUNNING", "COMPLETED")  # 2 workers by default
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while _simulators_of(proc.pid):  # the kernel ends them with their service, mid-job or not
        assert time.monotonic() < deadline, "simulator processes outlived their service"
        await asyncio.sleep(0.1)
    proc, url = _start_standalone(db)
    try:
        api = Api(url)
        await api.status_becomes(value, long["jobQrn"], "RUNNING")  # run again
        assert (await api.ended(value, queued["jobQrn"]))["status"] == "COMPLETED"
        _, answer = await api("POST", f"/jobs/{long['jobQrn']}/cancel", key=value)
        assert answer["data"]["status"] == "CANCELLED"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert _sql(db, "SELECT attempts FROM jobs WHERE qrn = ?", long["jobQrn"]) == [(2,)]


@pytest.fixture
def hub_service(start_service, store_db):
    """A service with Hub users alice (token a) and bob (token b), 10 credits each."""
    from .test_accounts import FakeHubAuth

    scopes = ["access:services!service=qbraid-keys"]
    users = {
        t: {"kind": "user", "name": n, "scopes": scopes} for t, n in [("a", "alice"), ("b", "bob")]
    }
    return start_service(TOKEN, db=store_db, hub_auth=FakeHubAuth(users), credits="10")


async def test_jobs_and_credits_belong_to_their_account(hub_service):
    api = Api(hub_service.url)
    hub = {"a": {"Authorization": "token a"}, "b": {"Authorization": "token b"}}
    keys = {}
    for who in hub:
        code, answer = await api(
            "POST", "/api-keys", {"name": "ci", "scopes": ALL_SCOPES}, **hub[who]
        )
        assert code == 201, answer
        keys[who] = answer["data"]["value"]
    job = await api.submit(keys["a"])
    qrn = job["jobQrn"]

    for bob in ({"key": keys["b"]}, hub["b"], {"X-Access-Token": TOKEN}):  # others, each way in
        for method, path in [
            ("GET", f"/jobs/{qrn}"),
            ("GET", f"/jobs/{qrn}/result"),
            ("GET", f"/jobs/{qrn}/program"),
            ("POST", f"/jobs/{qrn}/cancel"),
        ]:
            code, answer = await api(method, path, **bob)
            assert (code, answer["error"]["code"]) == (404, "NOT_FOUND"), (bob, path)
        code, answer = await api("GET", "/jobs", **bob)
        assert code == 200 and answer["data"] == [] and answer["pagination"]["total"] == 0
        code, answer = await api("GET", "/billing/credits/balance", **bob)
        assert Decimal(str(answer["data"]["qbraidCredits"])) == 10  # untouched
    for alice in ({"key": keys["a"]}, hub["a"]):
        code, answer = await api("GET", "/jobs", **alice)
        assert [j["jobQrn"] for j in answer["data"]] == [qrn]
        assert (await api("GET", f"/jobs/{qrn}", **alice))[0] == 200
        code, answer = await api(
            "GET", "/billing/credits/balance?organizationId=jupyterhub", **alice
        )
        assert code == 200 and answer["data"]["userId"] == "alice"
        spent = Decimal(str(job["estimatedCost"]))
        assert Decimal(str(answer["data"]["qbraidCredits"])) == 10 - spent and spent > 0
    code, answer = await api("GET", "/billing/credits/balance?organizationId=local-org", **hub["a"])
    assert (code, answer["error"]["code"]) == (404, "NOT_FOUND")
