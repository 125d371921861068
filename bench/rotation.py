"""Item 6: from the rotate (or revoke) answer to the first rejection of the old value.

The key service runs in its own process under concurrent verify load (another process, 8
keep-alive connections, 100 other keys). A probe in this process keeps two keep-alive
connections open: on one it rotates a key with the account token, and the moment the answer
arrives it verifies the old value on the other, then a few more times. The old value must
be rejected by the very first verify (zero accepted), so the time to the first rejection is
one verify round trip: its baseline is the p50 of verifies of a valid key under the same load.
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

ITEM = "6 rotation"
TOKEN = "bench-rotation-account-token"
AFTER = 5  # verifies of the old value after each answer


async def _probe(url: str, rotations: int, revocations: int) -> dict:
    manage, check = Connection(url), Connection(url)
    admin = {"X-Access-Token": TOKEN}
    verify = "/api/v1/users/verify"
    out: dict = {"first_ms": [], "valid_ms": [], "accepted": 0, "checked": 0}
    out["revoke_first_ms"], out["rejections"] = [], {}

    async def create(name: str) -> dict:
        status, body = await manage.request(
            "POST",
            "/api/v1/api-keys",
            {**admin, "Content-Type": "application/json"},
            json.dumps({"name": name}).encode(),
        )
        assert status == 201, body
        return json.loads(body)["data"]

    async def after_answer(value: str, into: list[float], answered: float) -> None:
        for i in range(AFTER):
            status, _ = await check.request("GET", verify, {"X-API-Key": value})
            if i == 0:
                into.append((time.perf_counter() - answered) * 1000)
            out["checked"] += 1
            if status == 200:
                out["accepted"] += 1
            else:
                out["rejections"][status] = out["rejections"].get(status, 0) + 1

    key = await create("rotated")
    value = key["value"]
    for _ in range(rotations):
        started = time.perf_counter()
        status, _ = await check.request("GET", verify, {"X-API-Key": value})
        out["valid_ms"].append((time.perf_counter() - started) * 1000)
        assert status == 200, status
        status, body = await manage.request("POST", f"/api/v1/api-keys/{key['id']}/rotate", admin)
        answered = time.perf_counter()
        assert status == 200, body
        await after_answer(value, out["first_ms"], answered)
        value = json.loads(body)["data"]["value"]
    for i in range(revocations):
        doomed = await create(f"revoked-{i}")
        status, _ = await check.request("GET", verify, {"X-API-Key": doomed["value"]})
        assert status == 200, status
        status, _ = await manage.request("DELETE", f"/api/v1/api-keys/{doomed['id']}", admin)
        answered = time.perf_counter()
        assert status == 200, status
        await after_answer(doomed["value"], out["revoke_first_ms"], answered)
    await manage.close()
    await check.close()
    return out


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 6."""
    rotations, revocations, seconds = (20, 10, 6) if quick else (100, 50, 20)
    others = accounts.fill(tmp / "rotation.sqlite3", 100)
    values = accounts.values_file(tmp / "rotation.values", others)
    env = python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN})
    service = Server(
        [sys.executable, "-m", "bench.serve", "service", "--db", str(tmp / "rotation.sqlite3")],
        env,
    )
    try:
        service.start()
        background = start_load(
            f"{service.url}/api/v1/users/verify",
            "--connections",
            "8",
            "--duration",
            str(seconds),
            "--warmup",
            "0.3",
            "--cycle-header",
            "X-API-Key",
            "--values",
            str(values),
        )
        time.sleep(0.5)
        probe = asyncio.run(_probe(service.url, rotations, revocations))
        load = finish_load(background)
    finally:
        service.stop()
    first = statistics.median(probe["first_ms"])
    valid = statistics.median(probe["valid_ms"])
    add = report.figures.append
    add(
        Figure(
            ITEM,
            f"old value accepted after a rotate or revoke answer ({probe['checked']} tries)",
            float(probe["accepted"]),
            "",
            target="0 accepted",
            met=probe["accepted"] == 0,
        )
    )
    add(
        Figure(
            ITEM,
            "rotate answer -> first rejection of the old value, p50",
            first,
            "ms",
            "verify p50 under the same load",
            valid,
        )
    )
    add(
        Figure(
            ITEM,
            "revoke answer -> first rejection, p50",
            statistics.median(probe["revoke_first_ms"]),
            "ms",
            "verify p50 under the same load",
            valid,
        )
    )
    report.note(
        ITEM,
        f"{rotations} rotations and {revocations} revocations while {load['rps']:,.0f} "
        f"verifies/s of other keys ran ({load['errors']} errors); each answer was followed "
        f"by {AFTER} verifies of the old value (answers: "
        + ", ".join(f"{n} x HTTP {code}" for code, n in sorted(probe["rejections"].items()))
        + "; 429 is the service's limit on failures per client). The first one is already "
        "rejected, so the "
        "'time to rejection' is just one verify round trip (ratio ~1 to a valid verify).",
    )
