"""Items 1 and 2: key verification against a bare tornado ceiling; batched vs written usage.

Four servers, each its own process on loopback, loaded in turn (interleaved rounds, order
rotated each round) by the load generator in another process with keep-alive connections:

- ceiling: a bare tornado handler answering verify's JSON with no lookup;
- service: the key service, 100 keys, usage counted in memory and flushed in batches;
- written: the same with usage written to SQLite on every verify (`flush_interval=0`);
- large: the key service with 100,000 keys in the store.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

from . import accounts
from .processes import Server, load, python_env
from .report import Figure, Run

ITEM1 = "1 verify"
ITEM2 = "2 usage"
TOKEN = "bench-account-token"
CONNECTIONS = 16


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of items 1 and 2."""
    rounds, seconds = (2, 1.5) if quick else (5, 3.0)
    large_count = 100_000
    small = accounts.fill(tmp / "small.sqlite3", 100)
    shutil.copy(tmp / "small.sqlite3", tmp / "written.sqlite3")
    large = accounts.fill(tmp / "large.sqlite3", large_count)
    small_values = accounts.values_file(tmp / "small.values", small)
    large_values = accounts.values_file(tmp / "large.values", large)
    del large
    env = python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN})
    serve = [sys.executable, "-m", "bench.serve"]
    configs = {
        "ceiling": ([*serve, "ceiling"], small_values),
        "service": ([*serve, "service", "--db", str(tmp / "small.sqlite3")], small_values),
        "written": (
            [*serve, "service", "--db", str(tmp / "written.sqlite3"), "--flush-interval", "0"],
            small_values,
        ),
        "large": ([*serve, "service", "--db", str(tmp / "large.sqlite3")], large_values),
    }
    servers = {name: Server(args, env) for name, (args, _) in configs.items()}
    results: dict[str, list[dict]] = {name: [] for name in configs}
    try:
        for server in servers.values():
            server.start()
        names = list(configs)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                server = servers[name]
                figures = load(
                    f"{server.url}/api/v1/users/verify",
                    "--connections",
                    str(CONNECTIONS),
                    "--duration",
                    str(seconds),
                    "--warmup",
                    "0.5",
                    "--cycle-header",
                    "X-API-Key",
                    "--values",
                    str(configs[name][1]),
                    "--pid",
                    str(server.proc.pid),
                )
                if figures["errors"]:
                    raise RuntimeError(f"verify on {name}: {figures['statuses']}")
                results[name].append(figures)
    finally:
        for server in servers.values():
            server.stop()

    rps = {n: _median(results[n], "rps") for n in configs}
    p50 = {n: _median(results[n], "p50_ms") for n in configs}
    p99 = {n: _median(results[n], "p99_ms") for n in configs}
    cpu = {n: _median(results[n], "cpu_us_per_request") for n in configs}
    add = report.figures.append
    ceiling = f"bare tornado, {CONNECTIONS} conns"
    ok = rps["service"] / rps["ceiling"] >= 0.8
    add(
        Figure(
            ITEM1,
            "verify throughput (100 keys)",
            rps["service"],
            "req/s",
            ceiling,
            rps["ceiling"],
            "ratio >= 0.8",
            ok,
        )
    )
    add(Figure(ITEM1, "verify p50 latency", p50["service"], "ms", ceiling, p50["ceiling"]))
    add(Figure(ITEM1, "verify p99 latency", p99["service"], "ms", ceiling, p99["ceiling"]))
    # CPU per request: what a saturated single-process server's throughput is made of, and far
    # less disturbed by other load on the machine than requests/s; the ratio is inverted so
    # that, like throughput, 1.0 is the ceiling.
    add(
        Figure(
            ITEM1,
            "verify capacity from server CPU/request (ceiling/service)",
            cpu["ceiling"] / cpu["service"],
            "x",
            "1.0 = the ceiling's",
            1.0,
            "ratio >= 0.8",
            cpu["ceiling"] / cpu["service"] >= 0.8,
        )
    )
    add(Figure(ITEM1, "server CPU per verify", cpu["service"], "us", ceiling, cpu["ceiling"]))
    add(
        Figure(
            ITEM1,
            f"verify throughput, {large_count:,} keys",
            rps["large"],
            "req/s",
            "same service, 100 keys",
            rps["service"],
            "ratio >= 0.9",
            rps["large"] / rps["service"] >= 0.9,
        )
    )
    add(
        Figure(
            ITEM1,
            f"server CPU per verify, {large_count:,} keys",
            cpu["large"],
            "us",
            "same service, 100 keys",
            cpu["service"],
        )
    )
    add(
        Figure(
            ITEM2,
            "verify throughput, usage written on every verify",
            rps["written"],
            "req/s",
            "batched (every 2 s)",
            rps["service"],
        )
    )
    add(
        Figure(
            ITEM2,
            "server CPU per verify, usage written each time",
            cpu["written"],
            "us",
            "batched (every 2 s)",
            cpu["service"],
        )
    )
    add(
        Figure(
            ITEM2,
            "verify p99, usage written each time",
            p99["written"],
            "ms",
            "batched (every 2 s)",
            p99["service"],
        )
    )
    extra = cpu["service"] - cpu["ceiling"]
    report.note(
        ITEM1,
        f"LIMIT: the ceiling's {cpu['ceiling']:.0f} us of server CPU per request is tornado's "
        "own HTTP/1.1 work (parse, route, headers, ETag, write); the service adds "
        f"{extra:.0f} us for the work a verify must do: CRC32 check, SHA-256 of the value, a "
        "`PRAGMA data_version` query (so a rotation made by another process on the same "
        "database is seen at once), the in-memory digest lookup, counting the use and the "
        "answer. 0.8 of the ceiling allows only ~25% on top of bare tornado, so the ratio "
        "sits at 0.75-0.85 from run to run on this shared machine: the target is met "
        "narrowly or missed narrowly. Already done: digest cache with invalidation, "
        "pre-encoded answers per key, verify routed first, last-used time formatted at "
        "flush; further gains need fewer Python steps per request (e.g. no ETag on verify) "
        "or more than one process.",
    )
    spread = {
        n: (min(r["rps"] for r in results[n]), max(r["rps"] for r in results[n])) for n in configs
    }
    report.note(
        ITEM1,
        f"{rounds} interleaved rounds of {seconds:g} s per server, {CONNECTIONS} keep-alive "
        "connections, medians shown; requests/s range over rounds: "
        + "; ".join(f"{n} {lo:,.0f}-{hi:,.0f}" for n, (lo, hi) in spread.items())
        + ".",
    )
