"""Item 4: one account with 10,000 keys: a page, a name, details, create; panel for 1,000.

A real `jupyter server` with the embedded key service first holds 10 keys (the baseline),
then 10,000 (added to its database from outside while it runs). Each operation is timed
through the Jupyter route (what the sidebar, panel and magic call): one page of the list
(`GET api-keys?limit=50`, what the sidebar and the panel load), a key found by name
(`GET api-keys?name=`, what `%qbraid_key use` and the CLI ask), details and create; the
whole list without pages (kept for compatibility) is timed too, through Jupyter and straight
from a standalone key service on the same database file. The ipywidgets panel figures come
from `bench/panel.py` when it is present.
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


OPS = ("page", "name", "list", "details", "create")
TARGETS = {"page": 1.5, "name": 1.5}
LABELS = {
    "page": "one list page (50 keys) p50",
    "name": "find a key by name p50",
    "list": "whole list, no pages, p50",
    "details": "details p50",
    "create": "create p50",
}


async def _time_ops(
    url: str,
    headers: dict[str, str],
    prefix: str,
    reps: dict[str, int],
    some: dict,
) -> dict:
    conn = Connection(url)
    out: dict = {op: [] for op in OPS} | {"errors": []}
    some_id, some_name = some["id"], some["name"]
    for name, count in reps.items():
        for i in range(count):
            if name == "list":
                args = ("GET", f"{prefix}/api-keys", headers)
            elif name == "page":
                args = ("GET", f"{prefix}/api-keys?limit=50", headers)
            elif name == "name":
                args = ("GET", f"{prefix}/api-keys?name={some_name.upper()}", headers)
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
            if status < 300:
                out[f"{name}_bytes"] = len(answer)
            if name == "name" and status < 300:
                found = [k["id"] for k in json.loads(answer)["data"]]
                if found != [some_id]:
                    out["errors"].append(f"name: found {found}, not {some_id}")
    await conn.close()
    return out


def _p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 4 (and the panel's)."""
    rounds = 4 if quick else 8
    per_round = (
        {"page": 10, "name": 10, "details": 10, "create": 3}
        if quick
        else {"page": 20, "name": 20, "details": 20, "create": 5}
    )
    whole = {"list": 2 if quick else 4}
    servers: dict[str, JupyterServer] = {}
    services: dict[str, Server] = {}
    some: dict[str, dict] = {}
    for size, count in (("small", SMALL), ("large", LARGE)):
        db = tmp / f"scale-{size}.sqlite3"
        some[size] = accounts.fill(db, count, size)[count // 2]
        servers[size] = JupyterServer(tmp / f"scale-{size}", {"QbraidKeys": {"db_path": str(db)}})
        services[size] = Server(
            [sys.executable, "-m", "bench.serve", "service", "--db", str(db)],
            python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN}),
        )
    results: dict[str, dict] = {
        size: {op: [] for op in OPS} | {"errors": []} for size in ("small", "large")
    }
    ours, direct = "/qbraid-keys/api/v1", "/api/v1"
    account = {"X-Access-Token": TOKEN}
    try:
        for size in servers:
            servers[size].start()
            services[size].start()
            warm = {op: 2 for op in OPS if op not in ("create", "list")}
            server = servers[size]
            asyncio.run(_time_ops(server.url, server.auth, ours, warm, some[size]))  # warm up

        def measure(size: str, where: str, reps: dict[str, int]) -> None:
            server, service = servers[size], services[size]
            if where == "direct":
                got = asyncio.run(_time_ops(service.url, account, direct, reps, some[size]))
            else:
                got = asyncio.run(_time_ops(server.url, server.auth, ours, reps, some[size]))
            merged = results.setdefault(f"{size} {where}", {"errors": []})
            for key, value in got.items():
                merged[key] = merged.get(key, []) + value if isinstance(value, list) else value

        # The two accounts in alternation, so that other load on the machine hits both alike;
        # the whole list (megabytes) last, so that its garbage does not slow the rest down.
        for r in range(rounds):
            for size in ("small", "large") if r % 2 == 0 else ("large", "small"):
                measure(size, "ours", per_round)
        for size in ("small", "large"):
            measure(size, "ours", whole)
            measure(size, "direct", whole)
    finally:
        for process in (*services.values(), *servers.values()):
            process.stop()
    results["small"], results["large"] = results["small ours"], results["large ours"]
    add = report.figures.append
    small, large = results["small"], results["large"]
    for op in OPS:
        value = _p50(large[op])
        note = ""
        if value is None:
            error = next((e for e in large["errors"] if e.startswith(op)), "failed")
            note = " ".join(error.split()[:2]) + " (see notes)"
        baseline = _p50(small[op])
        limit = TARGETS.get(op)
        add(
            Figure(
                ITEM,
                f"{LABELS[op]}, {LARGE:,} keys (Jupyter route)",
                value,
                "ms",
                f"{SMALL} keys",
                baseline,
                f"ratio <= {limit}" if limit else "",
                (value / baseline <= limit) if limit and value and baseline else None,
                note=note,
            )
        )
    add(
        Figure(
            ITEM,
            f"whole list, no pages, {LARGE:,} keys, straight from the service",
            _p50(results["large direct"]["list"]),
            "ms",
            f"{SMALL} keys",
            _p50(results["small direct"]["list"]),
        )
    )
    report.note(
        ITEM,
        f"Two Jupyter servers, one with {SMALL} keys and one with {LARGE:,}, each with its "
        f"embedded service, measured in {rounds} alternating rounds of {per_round} requests "
        "on one keep-alive connection (medians over all rounds), then the whole list "
        f"({whole['list']} times each). A page answer is {large.get('page_bytes', 0):,} "
        f"bytes with {LARGE:,} keys ({small.get('page_bytes', 0):,} with {SMALL}); the page is "
        "cut by the (created_at, rowid) index and its usage totals are summed for its 50 keys "
        "only, and a name is found by the (account, name_fold) index, so neither grows with "
        "the account; `page.total`, a COUNT over the account's index (0.5 ms at 10,000 keys), "
        "is kept between pages and counted again only after keys were created or revoked "
        "(by this process, or by another one: SQLite's data_version). The remaining growth of "
        "the page figure is its size: 50 keys against the 10 of the small account.",
    )
    size = results["large direct"].get("list_bytes")
    if size:
        report.note(
            ITEM,
            f"the whole list of {LARGE:,} keys without pages is {size / 1e6:.1f} MB of JSON "
            f"({size / LARGE:,.0f} bytes per key, most of it the 30-day usage series); no part "
            "of the project asks for it any more (it stays for compatibility).",
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
        ("build_s", "panel: build for 1,000 given keys (first page)"),
        ("build_all_rows_s", "panel: build with all 1,000 given keys as rows"),
        ("kernel_build_s", "panel: build for 1,000 given keys in a kernel"),
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
