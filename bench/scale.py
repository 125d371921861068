"""Item 4: one account with 10,000 keys: list, details and create latency; panel for 1,000.

A real `jupyter server` with the embedded key service first holds 10 keys (the baseline),
then 10,000 (added to its database from outside while it runs). Each operation is timed
through the Jupyter route (what the sidebar, panel and magic call) and the list also
straight from a standalone key service on the same database file. The ipywidgets panel
figures come from `bench/panel.py` when it is present.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from . import accounts
from .jupyter import JupyterServer
from .load import Connection
from .processes import Server, python_env
from .report import Figure, Run

try:
    from qbraid_keys_ext.upstream import MAX_ANSWER_BYTES
except ImportError:  # pragma: no cover - older layout
    MAX_ANSWER_BYTES = 4 * 1024 * 1024

ITEM = "4 scale"
SMALL, LARGE = 10, 10_000
TOKEN = "bench-scale-account-token"


async def _time_ops(
    url: str, headers: dict[str, str], prefix: str, reps: dict[str, int], some_id: str
) -> dict:
    conn = Connection(url)
    out: dict = {"list": [], "details": [], "create": [], "errors": []}
    for name, count in reps.items():
        for i in range(count):
            if name == "list":
                args = ("GET", f"{prefix}/api-keys", headers)
            elif name == "details":
                args = ("GET", f"{prefix}/api-keys/{some_id}", headers)
            else:
                body = json.dumps({"name": f"created-{time.time_ns()}-{i}"}).encode()
                args = (
                    "POST",
                    f"{prefix}/api-keys",
                    {**headers, "Content-Type": "application/json"},
                    body,
                )
            started = time.perf_counter()
            status, answer = await conn.request(*args)
            elapsed = (time.perf_counter() - started) * 1000
            if status >= 300:
                out["errors"].append(f"{name}: {status} {answer[:300].decode(errors='replace')}")
            else:
                out[name].append(elapsed)
            if name == "list" and status < 300:
                out["list_bytes"] = len(answer)
    await conn.close()
    return out


def _p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 4 (and the panel's)."""
    reps = (
        {"list": 3, "details": 20, "create": 10}
        if quick
        else {"list": 7, "details": 100, "create": 50}
    )
    db = tmp / "scale.sqlite3"
    some_id = accounts.fill(db, SMALL, "small")[0]["id"]
    server = JupyterServer(tmp / "scale", {"QbraidKeys": {"db_path": str(db)}})
    service = Server(
        [sys.executable, "-m", "bench.serve", "service", "--db", str(db)],
        python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN}),
    )
    results: dict[str, dict] = {}
    try:
        server.start()
        service.start()
        ours = ("/qbraid-keys/api/v1", server.auth)
        direct = ("/api/v1", {"X-Access-Token": TOKEN})
        results["small"] = asyncio.run(_time_ops(server.url, ours[1], ours[0], reps, some_id))
        results["small direct"] = asyncio.run(
            _time_ops(service.url, direct[1], direct[0], {"list": reps["list"]}, some_id)
        )
        accounts.fill(db, LARGE - SMALL - reps["create"], "large")
        results["large"] = asyncio.run(_time_ops(server.url, ours[1], ours[0], reps, some_id))
        results["large direct"] = asyncio.run(
            _time_ops(service.url, direct[1], direct[0], {"list": reps["list"]}, some_id)
        )
    finally:
        service.stop()
        server.stop()
    add = report.figures.append
    small, large = results["small"], results["large"]
    for op in ("list", "details", "create"):
        value = _p50(large[op])
        note = ""
        if value is None:
            error = next((e for e in large["errors"] if e.startswith(op)), "failed")
            note = " ".join(error.split()[:2]) + " (see notes)"
        add(
            Figure(
                ITEM,
                f"{op} p50, {LARGE:,} keys (Jupyter route)",
                value,
                "ms",
                f"{SMALL} keys",
                _p50(small[op]),
                note=note,
            )
        )
    add(
        Figure(
            ITEM,
            f"list p50, {LARGE:,} keys, straight from the service",
            _p50(results["large direct"]["list"]),
            "ms",
            f"{SMALL} keys",
            _p50(results["small direct"]["list"]),
        )
    )
    size = results["large direct"].get("list_bytes")
    if size:
        report.note(
            ITEM,
            f"the list of {LARGE:,} keys is {size / 1e6:.1f} MB of JSON "
            f"({size / LARGE:,.0f} bytes per key, most of it the 30-day usage series).",
        )
    for e in sorted(set(large["errors"])):
        report.note(ITEM, f"with {LARGE:,} keys, through Jupyter: {e}")
    if size and size > MAX_ANSWER_BYTES and not large["list"]:
        report.note(
            ITEM,
            f"LIMIT: the Jupyter route cannot list {LARGE:,} keys: the answer "
            f"({size / 2**20:.1f} MiB) is larger than the proxy accepts from its upstream "
            f"(qbraid_keys_ext.upstream.MAX_ANSWER_BYTES = {MAX_ANSWER_BYTES / 2**20:g} MiB), "
            f"so tornado drops the connection and the proxy answers 502. At "
            f"{size / LARGE:,.0f} bytes per key the ceiling is about "
            f"{MAX_ANSWER_BYTES / (size / LARGE):,.0f} keys. Fix: raise the limit, or page "
            "the list / leave the 30-day usage series out of list answers. The service "
            "itself lists them (figure above), in time linear in the keys (two usage "
            "queries per key).",
        )
    _panel(quick, report)


def _panel(quick: bool, report: Run) -> None:
    try:
        from . import panel
    except ImportError as err:
        report.figures.append(
            Figure(ITEM, "panel: build for 1,000 keys", None, "s", note=f"bench/panel.py: {err}")
        )
        return
    figures = panel.run(quick)
    listed = figures.get("list_1000_s")
    for name, label in (
        ("build_s", "panel: build for 1,000 keys (first page)"),
        ("build_all_rows_s", "panel: build with all 1,000 rows"),
        ("kernel_build_s", "panel: build for 1,000 keys in a kernel"),
    ):
        if name in figures:
            add = report.figures.append
            add(
                Figure(
                    ITEM,
                    label,
                    figures[name] * 1000,
                    "ms",
                    "listing the 1,000 keys",
                    listed * 1000 if listed else None,
                )
            )
    extra = {k: v for k, v in figures.items() if k not in ("build_s", "build_all_rows_s")}
    report.note(
        ITEM, "panel (bench/panel.py): " + ", ".join(f"{k} {v:.4g}" for k, v in extra.items())
    )
