"""HTTP/1.1 keep-alive load generator, run in its own process: requests/s and latency.

    python -m bench.load URL [--connections N] [--duration S | --requests N]
        [--header "Name: value"]... [--cycle-header X-API-Key --values FILE]
        [--method POST --body FILE]

Prints one JSON object: requests, errors (non-2xx or broken), statuses, seconds, rps and
p50/p90/p99 latency in milliseconds; with `--pid`, also the CPU time that server process
spent per measured request (`cpu_us_per_request`), which other load on a shared machine
disturbs much less than requests/s. `Connection` is the same client for use in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection to a loopback server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        """Send one request and return (status, body); reconnects if the server closed."""
        if self._writer is None:
            await self._open()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PATCH", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            return await self._answer(method)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise

    async def _answer(self, method: str) -> tuple[int, bytes]:
        reader = self._reader
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif "content-length" in fields:
            data = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            data = b"".join(chunks)
        else:
            data = await reader.read()
            await self.close()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc), 0.0 if unknown."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest rank; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summary(latencies: list[float], seconds: float, errors: int, statuses: Counter) -> dict:
    """Figures of one run: latencies in seconds in, milliseconds out."""
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": seconds,
        "rps": len(latencies) / seconds if seconds > 0 else 0.0,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p90_ms": percentile(ordered, 0.90) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else 0.0,
    }


async def generate(
    url: str,
    *,
    connections: int = 16,
    duration: float | None = 3.0,
    requests: int | None = None,
    warmup: float = 0.5,
    headers: Mapping[str, str] | None = None,
    cycle_header: str | None = None,
    values: list[str] | None = None,
    method: str = "GET",
    body: bytes = b"",
    pid: int | None = None,
) -> dict:
    """Drive `url` with keep-alive connections; figures from after the warm-up only."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    base = dict(headers or {})
    cycle: Iterator[str] | None = itertools.cycle(values) if cycle_header and values else None
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors = 0
    state = {"measuring": warmup <= 0, "stop": False, "sent": 0}

    async def worker() -> None:
        nonlocal errors
        conn = Connection(url)
        try:
            while not state["stop"]:
                if requests is not None and state["measuring"]:
                    if state["sent"] >= requests:
                        break
                    state["sent"] += 1
                hdrs = base if cycle is None else {**base, cycle_header: next(cycle)}
                started = time.perf_counter()
                try:
                    status, _ = await conn.request(method, target, hdrs, body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status = 0
                elapsed = time.perf_counter() - started
                if state["measuring"]:
                    latencies.append(elapsed)
                    statuses[status] += 1
                    if not 200 <= status < 300:
                        errors += 1
        finally:
            await conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    if warmup > 0:
        await asyncio.sleep(warmup)
        state["measuring"] = True
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    if requests is None:
        await asyncio.sleep(duration or 0)
        state["stop"], state["measuring"] = True, False  # answers still in flight not counted
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
    figures = summary(latencies, seconds, errors, statuses)
    if pid:
        figures["server_cpu_s"] = cpu
        figures["cpu_us_per_request"] = cpu / len(latencies) * 1e6 if latencies else 0.0
    return figures


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the load, print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--requests", type=int, help="stop after this many measured requests")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    parser.add_argument("--cycle-header", help="header whose value cycles through --values")
    parser.add_argument("--values", help="file with one header value per line")
    parser.add_argument("--pid", type=int, help="server process whose CPU time to report")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="file whose bytes are every request's body")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    values = None
    if args.values:
        with open(args.values, encoding="utf-8") as f:
            values = [line.strip() for line in f if line.strip()]
    figures = asyncio.run(
        generate(
            args.url,
            connections=args.connections,
            duration=args.duration,
            requests=args.requests,
            warmup=args.warmup,
            headers=headers,
            cycle_header=args.cycle_header,
            values=values,
            method=args.method,
            body=Path(args.body).read_bytes() if args.body else b"",
            pid=args.pid,
        )
    )
    json.dump(figures, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
