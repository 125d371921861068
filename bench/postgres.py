"""Item 8: the key service on PostgreSQL, 1 and 2 processes, against SQLite with 1.

A real PostgreSQL (Debian's, started as tests/postgres.py starts it: a temporary folder, a free
loopback port, fsync off) holds 100 keys; so does a SQLite file. Verify throughput is measured
in interleaved rounds: SQLite with one service process, PostgreSQL with one, and PostgreSQL
with two processes on the same database, each loaded by its own load generator with half the
connections (their requests/s added). Then rotations: a key is rotated through process A and
the old value verified through process B the moment the answer arrives; the old value must be
accepted 0 times.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from . import accounts
from .load import Connection
from .processes import Server, finish_load, python_env, start_load
from .report import Figure, Run

ITEM = "8 postgresql"
TOKEN = "bench-postgres-account-token"
CONNECTIONS = 16


async def _fill(url: str, count: int) -> list[dict]:
    from qbraid_keys_ext.service.pgstore import PgKeyStore

    store = PgKeyStore(url)
    await store.open()
    try:
        keys = store.account("local")
        return [await keys.create({"name": f"key-{i}"}) for i in range(count)]
    finally:
        await store.close()


def _loads(urls: list[str], values: Path, seconds: float, pids: list[int]) -> dict:
    """Load every URL at once (CONNECTIONS split between them); summed rps, worst p99."""
    procs = [
        start_load(
            f"{url}/api/v1/users/verify",
            *("--connections", str(CONNECTIONS // len(urls)), "--duration", str(seconds)),
            *("--warmup", "0.5", "--cycle-header", "X-API-Key", "--values", str(values)),
            *("--pid", str(pid)),
        )
        for url, pid in zip(urls, pids, strict=True)
    ]
    results = [finish_load(p) for p in procs]
    for r in results:
        if r["errors"]:
            raise RuntimeError(f"verify errors: {r['statuses']}")
    return {
        "rps": sum(r["rps"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "cpu_us": statistics.mean(r["cpu_us_per_request"] for r in results),
    }


async def _rotations(one: str, other: str, count: int) -> dict:
    manage, check = Connection(one), Connection(other)
    admin = {"X-Access-Token": TOKEN}
    status, body = await manage.request(
        "POST",
        "/api/v1/api-keys",
        {**admin, "Content-Type": "application/json"},
        json.dumps({"name": "rotated"}).encode(),
    )
    assert status == 201, body
    key = json.loads(body)["data"]
    value, accepted, first_ms = key["value"], 0, []
    for _ in range(count):
        status, _ = await check.request("GET", "/api/v1/users/verify", {"X-API-Key": value})
        assert status == 200, status
        status, body = await manage.request("POST", f"/api/v1/api-keys/{key['id']}/rotate", admin)
        answered = time.perf_counter()
        assert status == 200, body
        status, _ = await check.request("GET", "/api/v1/users/verify", {"X-API-Key": value})
        first_ms.append((time.perf_counter() - answered) * 1000)
        accepted += status == 200
        value = json.loads(body)["data"]["value"]
    await manage.close()
    await check.close()
    return {"accepted": accepted, "first_ms": statistics.median(first_ms), "count": count}


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 8."""
    from tests.postgres import PostgresServer, bin_dir  # the tests' launcher (repo root)

    if bin_dir() is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    rounds, seconds = (2, 1.5) if quick else (4, 3.0)
    pg = PostgresServer().start()
    servers: list[Server] = []
    try:
        url = pg.database()
        pg_values = asyncio.run(_fill(url, 100))
        sqlite_values = accounts.fill(tmp / "keys.sqlite3", 100)
        files = {
            "pg": accounts.values_file(tmp / "pg.values", pg_values),
            "sqlite": accounts.values_file(tmp / "sqlite.values", sqlite_values),
        }
        env = python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN})
        serve = [sys.executable, "-m", "bench.serve", "service"]
        sqlite = Server([*serve, "--db", str(tmp / "keys.sqlite3")], env).start()
        pg_a = Server([*serve, "--db", url], env).start()
        pg_b = Server([*serve, "--db", url], env).start()
        servers = [sqlite, pg_a, pg_b]
        configs = {
            "sqlite": ([sqlite], files["sqlite"]),
            "pg1": ([pg_a], files["pg"]),
            "pg2": ([pg_a, pg_b], files["pg"]),
        }
        results: dict[str, list[dict]] = {name: [] for name in configs}
        names = list(configs)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                chosen, values = configs[name]
                pids = [s.proc.pid for s in chosen]
                results[name].append(_loads([s.url for s in chosen], values, seconds, pids))
        rotation = asyncio.run(_rotations(pg_a.url, pg_b.url, 20 if quick else 100))
    finally:
        for server in servers:
            server.stop()
        pg.stop()

    rps = {n: statistics.median(r["rps"] for r in results[n]) for n in results}
    p99 = {n: statistics.median(r["p99_ms"] for r in results[n]) for n in results}
    cpu = {n: statistics.median(r["cpu_us"] for r in results[n]) for n in results}
    add = report.figures.append
    base = "SQLite, 1 process"
    add(Figure(ITEM, "verify throughput, PostgreSQL, 1 process", rps["pg1"], "req/s", base,
               rps["sqlite"]))  # fmt: skip
    add(Figure(ITEM, "verify throughput, PostgreSQL, 2 processes", rps["pg2"], "req/s", base,
               rps["sqlite"]))  # fmt: skip
    add(Figure(ITEM, "verify p99, PostgreSQL, 2 processes", p99["pg2"], "ms", base,
               p99["sqlite"]))  # fmt: skip
    # less disturbed by other load than requests/s: the service process's own CPU per verify
    add(Figure(ITEM, "service CPU per verify, PostgreSQL", cpu["pg1"], "us", base,
               cpu["sqlite"]))  # fmt: skip
    add(
        Figure(
            ITEM,
            f"old value accepted by process B after a rotate on A ({rotation['count']} rotations)",
            rotation["accepted"],
            "requests",
            target="0",
            met=rotation["accepted"] == 0,
        )
    )
    add(Figure(ITEM, "rotate answer on A to first rejection on B", rotation["first_ms"], "ms"))
    report.note(
        ITEM,
        f"{rounds} interleaved rounds of {seconds:g} s, {CONNECTIONS} keep-alive connections in "
        "all (split between the two processes), medians shown. On PostgreSQL every verify is "
        "one indexed read (no cache, so another process's rotation is seen on the very next "
        "request); on this 2-core machine the database server, the service processes and the "
        "load generators share the same cores, so a second process adds less than it would on "
        "a machine with a core per process.",
    )
