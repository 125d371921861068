"""SIGKILL the standalone key service in the middle of a create and verify load, restart it.

Every create that was answered is there and its value verifies; `PRAGMA integrity_check` is
ok; usage lost is at most the uses answered in the last flush window before the kill (usage is
counted in memory and written every `--flush-interval` seconds, 2 by default, 1 here).
SQLite runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives the death
of the process (this test); after a power loss the database is still consistent, but the last
transactions before it may be lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

TOKEN = "crash-account-token"
FLUSH = 1.0
SLACK = 0.5  # timer and scheduling jitter on a busy machine, seconds
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)


def start(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start `python -m qbraid_keys_ext.service` on a free port; return it and its URL."""
    env = {**os.environ, "QBRAID_KEYS_ACCESS_TOKEN": TOKEN}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    args = ["--db", str(db), "--port", "0", "--flush-interval", str(FLUSH)]
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qbraid_keys_ext.service", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    line = proc.stdout.readline()
    assert "listening on" in line, log.read_text()
    return proc, line.split()[-1]


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


async def test_sigkill_mid_load_loses_no_answered_create_and_at_most_one_flush_of_usage(
    tmp_path, leak_registry
):
    db, log = tmp_path / "keys.sqlite3", tmp_path / "service.log"
    proc, url = start(db, log)
    client = AsyncHTTPClient(force_instance=True, max_clients=20)
    created: dict[str, str] = {}  # id -> value, for creates whose answer arrived
    verified: list[tuple[str, float]] = []  # (id, answered at) of successful verifications
    stop = asyncio.Event()

    async def call(method: str, path: str, body=None, headers=None):
        response = await client.fetch(
            f"{url}/api/v1{path}",
            method=method,
            body=None if body is None else json.dumps(body),
            headers=headers or {"X-Access-Token": TOKEN},
            raise_error=False,
            request_timeout=10,
        )
        return response.code, (json.loads(response.body) if response.code != 599 else None)

    async def creator(n: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                status, answer = await call("POST", "/api-keys", {"name": f"c{n}-{i}"})
            except Exception:
                return
            if status == 201:
                created[answer["data"]["id"]] = answer["data"]["value"]
                leak_registry.add_values(answer["data"]["value"])
            i += 1

    async def verifier(n: int) -> None:
        i = 0
        while not stop.is_set():
            if not created:
                await asyncio.sleep(0.01)
                continue
            ids = sorted(created)
            key_id = ids[(i * 7 + n) % len(ids)]
            i += 1
            try:
                status, _ = await call(
                    "GET", "/users/verify", headers={"X-API-Key": created[key_id]}
                )
            except Exception:
                return
            if status == 200:
                verified.append((key_id, time.monotonic()))

    tasks = [asyncio.create_task(creator(n)) for n in range(2)]
    tasks += [asyncio.create_task(verifier(n)) for n in range(6)]
    await asyncio.sleep(2.6)  # more than two flushes, and not in step with them
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    stop.set()
    await asyncio.gather(*tasks)
    client.close()
    answered_creates, answered_verifies = dict(created), list(verified)
    assert len(answered_creates) >= 5 and len(answered_verifies) >= 50, "the load was too light"

    assert integrity(db) == "ok"
    proc, url = start(db, log)
    client = AsyncHTTPClient(force_instance=True, max_clients=20)
    try:
        status, listed = await call("GET", "/api-keys")
        assert status == 200
        stored = {k["id"]: k for k in listed["data"]}
        assert set(answered_creates) <= set(stored), "an answered create was lost"
        assert len(stored) - len(answered_creates) <= 2  # at most the creates in flight

        counted = Counter(key_id for key_id, _ in answered_verifies)
        late = Counter(k for k, at in answered_verifies if at > killed_at - FLUSH - SLACK)
        lost = {k: counted[k] - stored[k]["usage"]["total"] for k in answered_creates}
        for key_id, n in lost.items():
            assert n <= late[key_id], f"{key_id}: {n} uses lost, more than one flush window"
            assert -n <= 6, f"{key_id}: more uses stored than verifications in flight"
        print(
            f"crash: {len(answered_creates)} creates, {len(answered_verifies)} verifies answered; "
            f"{sum(max(0, n) for n in lost.values())} uses lost, bound {sum(late.values())}"
        )

        for key_id, value in answered_creates.items():
            status, answer = await call("GET", "/users/verify", headers={"X-API-Key": value})
            assert (status, answer["data"]["apiKey"]["id"]) == (200, key_id)
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0  # a clean stop flushes and exits 0
        proc.stdout.close()
    assert integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        (uses,) = conn.execute("SELECT COALESCE(SUM(count), 0) FROM usage").fetchone()
    assert uses == sum(k["usage"]["total"] for k in stored.values()) + len(answered_creates)
