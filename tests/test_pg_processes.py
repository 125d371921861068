"""Several key service processes on one PostgreSQL database behave as one service.

Real processes (`python -m qbraid_keys_ext.service --db postgresql://...`) on a real
PostgreSQL: a rotate, deactivate or revoke answered by one is rejected by the other on its
very next request; uses counted in both add up; the failure limit is shared; SIGKILL of one
loses no answered write; two processes starting at once on an empty database migrate it once.
Quantum jobs: a job accepted by one is answered (status, result, list, cancel) by the other,
charged once; a cancel through the other stops it; a process that starts leaves a live one's
running job alone, and the jobs of a killed one are taken over.
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal

import psycopg
import pytest

from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.service.pgstore import MIGRATIONS

from .standalone import KeyServiceProcess
from .test_jobs_service import AER, BELL2, LONG, _simulators_of


def start_both(tmp_path, pg_url: str, *args: str) -> list[KeyServiceProcess]:
    """Two processes on one database, launched together (so they migrate it together)."""
    procs = [KeyServiceProcess(tmp_path / name, db=pg_url, args=args).launch() for name in "ab"]
    return [p.wait_started() for p in procs]


@pytest.fixture
def pair(tmp_path, pg_url, leak_registry):
    procs = start_both(tmp_path, pg_url, "--flush-interval", "3600")
    yield procs
    for proc in procs:
        proc.stop()


def verify(service: KeyServiceProcess, value: str) -> tuple[int, str]:
    status, answer = service.request("GET", "users/verify", headers={"X-API-Key": value})
    return status, answer["data"]["apiKey"]["id"] if status == 200 else answer["error"]["code"]


def test_a_rotation_by_one_is_rejected_by_the_other_at_once(pair, pg_url, leak_registry):
    one, other = pair
    key = one.create("ci")
    leak_registry.add_values(key["value"])
    assert verify(other, key["value"]) == (200, key["id"])
    old = key["value"]
    for i in range(10):  # alternate who rotates; the very next request elsewhere fails
        by, at = (one, other) if i % 2 == 0 else (other, one)
        status, rotated = by.request("POST", f"api-keys/{key['id']}/rotate")
        assert status == 200
        new = rotated["data"]["value"]
        leak_registry.add_values(new)
        assert verify(at, old) == (401, "INVALID_API_KEY")
        assert verify(at, new) == (200, key["id"])
        old = new

    assert other.request("PATCH", f"api-keys/{key['id']}", {"status": "inactive"})[0] == 200
    assert verify(one, old) == (401, "API_KEY_INACTIVE")
    assert one.request("PATCH", f"api-keys/{key['id']}", {"status": "active"})[0] == 200
    assert verify(other, old) == (200, key["id"])
    assert other.request("DELETE", f"api-keys/{key['id']}")[0] == 200
    assert verify(one, old) == (401, "INVALID_API_KEY")
    assert one.request("GET", f"api-keys/{key['id']}")[0] == 404

    with psycopg.connect(pg_url) as db:  # migrated once, though both started on it together
        versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [v for v, _, _ in MIGRATIONS]


def test_uses_counted_in_two_processes_add_up(pair, leak_registry):
    one, other = pair
    key = one.create("ci")
    leak_registry.add_values(key["value"])
    for _ in range(7):
        assert verify(one, key["value"])[0] == 200
    for _ in range(5):
        assert verify(other, key["value"])[0] == 200
    # each process shows the stored uses and its own, not yet flushed, ones
    assert one.request("GET", f"api-keys/{key['id']}")[1]["data"]["usage"]["total"] == 7
    for proc in pair:  # SIGTERM flushes
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
    again = KeyServiceProcess(one.folder, db=one.db).start()
    try:
        details = again.request("GET", f"api-keys/{key['id']}")[1]["data"]
        assert details["usage"]["total"] == 12 and details["usage"]["daily"][-1]["count"] == 12
        assert details["lastUsedAt"] is not None
    finally:
        again.stop()


def test_the_failure_limit_is_shared(tmp_path, pg_url):
    procs = start_both(tmp_path, pg_url, "--rate-limit", "4", "--rate-window", "600")
    try:
        wrong = {"X-API-Key": keyformat.generate()}
        codes = [p.request("GET", "users/verify", headers=wrong)[0] for p in procs * 2]
        assert codes == [401] * 4  # two failures in each process
        for proc in procs:
            status, answer = proc.request("GET", "users/verify", headers=wrong)
            assert (status, answer["error"]["code"]) == (429, "RATE_LIMITED")
        status, answer = procs[0].request("GET", "api-keys", headers={"X-Access-Token": "x"})
        assert status == 429
        assert procs[1].request("GET", "api-keys")[0] == 200  # the right token still works
    finally:
        for proc in procs:
            proc.stop()


def test_sigkill_loses_no_answered_write(pair, leak_registry):
    one, other = pair
    made = []
    for i in range(20):
        key = one.create(f"k{i}")
        if i % 2:
            status, rotated = one.request("POST", f"api-keys/{key['id']}/rotate")
            assert status == 200
            key = rotated["data"]
        if i % 5 == 0:
            assert one.request("PATCH", f"api-keys/{key['id']}", {"status": "inactive"})[0] == 200
            key["status"] = "inactive"
        leak_registry.add_values(key["value"])
        made.append(key)
    one.proc.send_signal(signal.SIGKILL)
    one.proc.wait(30)
    started = time.monotonic()
    listed = {k["id"]: k for k in other.request("GET", "api-keys")[1]["data"]}
    assert len(listed) == 20
    for key in made:
        assert (listed[key["id"]]["hint"], listed[key["id"]]["status"]) == (
            key["hint"],
            key["status"],
        )
        expected = (200, key["id"]) if key["status"] == "active" else (401, "API_KEY_INACTIVE")
        assert verify(other, key["value"]) == expected
    assert time.monotonic() - started < 30


# -- quantum jobs ------------------------------------------------------------------------
ENDED = ("COMPLETED", "FAILED", "CANCELLED")


def submit(service: KeyServiceProcess, data: str = BELL2, fmt: str = "qasm2") -> dict:
    body = {"deviceQrn": AER, "shots": 100, "program": {"format": fmt, "data": data}}
    status, answer = service.request("POST", "jobs", body)
    assert status == 201, answer
    return answer["data"]


def job(service: KeyServiceProcess, qrn: str) -> dict:
    status, answer = service.request("GET", f"jobs/{qrn}")
    assert status == 200, answer
    return answer["data"]


def until(service: KeyServiceProcess, qrn: str, check, timeout: float = 90) -> dict:
    """The job as `service` answers it once `check(job)` holds."""
    deadline = time.monotonic() + timeout
    while not check(found := job(service, qrn)):
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def becomes(service: KeyServiceProcess, qrn: str, statuses, timeout: float = 90) -> dict:
    """The job as `service` answers it once its status is one of `statuses`."""
    return until(service, qrn, lambda found: found["status"] in statuses, timeout)


def balance(service: KeyServiceProcess) -> Decimal:
    status, answer = service.request("GET", "billing/credits/balance")
    assert status == 200, answer
    return Decimal(str(answer["data"]["qbraidCredits"]))


def simulators_stop(service: KeyServiceProcess, pids: list[int], timeout: float = 8) -> None:
    deadline = time.monotonic() + timeout
    while set(pids) & set(_simulators_of(service.proc.pid)):
        assert time.monotonic() < deadline, "the simulator kept running the cancelled job"
        time.sleep(0.1)


@pytest.fixture
def job_pair(tmp_path, pg_url):
    procs = start_both(tmp_path, pg_url, "--job-workers", "1")
    yield procs
    for proc in procs:
        proc.stop()


def test_a_job_in_one_process_is_answered_and_cancelled_by_the_other(job_pair):
    one, other = job_pair
    first = submit(one)
    done = becomes(other, first["jobQrn"], ENDED)
    assert done["status"] == "COMPLETED", done
    status, result = other.request("GET", f"jobs/{first['jobQrn']}/result")
    assert status == 200 and sum(result["data"]["resultData"]["measurementCounts"].values()) == 100
    status, listed = other.request("GET", "jobs")
    assert [j["jobQrn"] for j in listed["data"]] == [first["jobQrn"]]
    cost = Decimal(str(done["cost"]))
    assert cost > 0 and balance(one) == balance(other) == 1000 - cost  # charged once

    long = submit(one, LONG, "qasm3")
    becomes(other, long["jobQrn"], ["RUNNING"])
    [simulator] = _simulators_of(one.proc.pid)
    queued = submit(one)  # behind the long one: `one` has a single simulator
    assert job(other, queued["jobQrn"])["status"] == "QUEUED"
    status, answer = other.request("POST", f"jobs/{queued['jobQrn']}/cancel")
    assert status == 200 and answer["data"]["status"] == "CANCELLED", answer
    status, answer = other.request("POST", f"jobs/{long['jobQrn']}/cancel")
    assert answer["data"]["statusMsg"] == "Cancelled while running.", answer
    simulators_stop(one, [simulator])  # `one` saw the cancel and stopped its simulator
    after = submit(one)  # so its next job runs at once, on a new simulator
    assert becomes(other, after["jobQrn"], ENDED)["status"] == "COMPLETED"
    for qrn in (queued["jobQrn"], long["jobQrn"]):
        ended = job(one, qrn)
        assert (ended["status"], ended["cost"]) == ("CANCELLED", 0), ended
    assert job(one, queued["jobQrn"])["metadata"]["startedAt"] is None  # never run
    assert balance(other) == 1000 - 2 * cost


def test_a_live_process_keeps_its_jobs_and_a_killed_ones_are_taken_over(job_pair, tmp_path):
    one, other = job_pair
    long = submit(one, LONG, "qasm3")
    started = becomes(other, long["jobQrn"], ["RUNNING"])["metadata"]["startedAt"]
    queued = submit(one)
    late = KeyServiceProcess(tmp_path / "late", db=one.db, args=("--job-workers", "1")).start()
    try:  # a process that starts takes over only the jobs of processes that are gone
        assert job(late, long["jobQrn"])["metadata"]["startedAt"] == started
        assert job(late, queued["jobQrn"])["status"] == "QUEUED"
    finally:
        late.stop()
    one.proc.send_signal(signal.SIGKILL)
    one.proc.wait(30)
    # `other` takes both over within a sweep: the interrupted job runs again there
    until(
        other,
        long["jobQrn"],
        lambda found: found["status"] == "RUNNING" and found["metadata"]["startedAt"] != started,
        timeout=60,
    )
    _, answer = other.request("POST", f"jobs/{long['jobQrn']}/cancel")
    assert answer["data"]["status"] == "CANCELLED", answer
    assert becomes(other, queued["jobQrn"], ENDED)["status"] == "COMPLETED"
    assert balance(other) == 1000 - Decimal(str(job(other, queued["jobQrn"])["cost"]))
