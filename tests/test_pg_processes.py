"""Several key service processes on one PostgreSQL database behave as one service.

Real processes (`python -m qbraid_keys_ext.service --db postgresql://...`) on a real
PostgreSQL: a rotate, deactivate or revoke answered by one is rejected by the other on its
very next request; uses counted in both add up; the failure limit is shared; SIGKILL of one
loses no answered write; two processes starting at once on an empty database migrate it once.
"""

from __future__ import annotations

import signal
import time

import psycopg
import pytest

from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.service.pgstore import MIGRATIONS

from .standalone import KeyServiceProcess


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
