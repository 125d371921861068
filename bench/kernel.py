"""Item 5a: `%qbraid_key use NAME` (and the widget panel) in a running kernel, 10 vs 10,000 keys.

Two real `jupyter server`s (embedded key service), one whose account holds 10 keys, one
10,000, each with a key `bench-use` created through its API (so the value is in its
keyring) and a real IPython kernel told where its server is. The kernels time the magic in
alternating rounds; the 10-key figure is the baseline of the 10,000-key one. They also time
building the ipywidgets `KeysPanel()` from the server (its first page) and, as a reference,
one `GET api-keys?limit=50` with the project's client.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from . import accounts
from .jupyter import JupyterServer
from .report import Figure, Run

ITEM = "5 kernel"
SMALL, LARGE = 10, 10_000

SETUP = """
import contextlib, io, json, statistics, time
from qbraid_keys_ext.kernel.server import run_sync, server_client
from qbraid_keys_ext.widgets import KeysPanel
ip = get_ipython()
ip.run_line_magic("load_ext", "qbraid_keys_ext")

def timed(fn, n):
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out

def use():
    with contextlib.redirect_stdout(io.StringIO()):
        ip.run_line_magic("qbraid_key", "use bench-use")

def page():
    run_sync(lambda: server_client().request("GET", "api-keys", params={"limit": "50"}))

def panel():
    KeysPanel().close()

use(); page(); panel()  # warm
import os
assert os.environ.get("QBRAID_API_KEY", "").startswith("qbr_")
"""
ROUND = """print("BENCH " + json.dumps({{"use": timed(use, {n}), "page": timed(page, {n}),
                                  "panel": timed(panel, {m})}}))"""


class BenchKernel:
    """A kernel of one server, running code and returning what it printed."""

    def __init__(self, server: JupyterServer, tmp: Path) -> None:
        from jupyter_client.manager import KernelManager

        env = {
            **server.env,
            "QBRAID_KEYS_SERVER_URL": server.url + "/",
            "QBRAID_KEYS_SERVER_TOKEN": server.token,
        }
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(tmp))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> str:
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                errors.append(msg["content"]["ename"] + ": " + msg["content"]["evalue"])

        self.client.execute_interactive(code, output_hook=hook, timeout=300)
        if errors:
            raise RuntimeError("; ".join(errors))
        return "".join(out)

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the kernel figures."""
    rounds, n, m = (3, 10, 3) if quick else (5, 30, 6)
    servers: dict[int, JupyterServer] = {}
    kernels: dict[int, BenchKernel] = {}
    times: dict[int, dict[str, list[float]]] = {}
    try:
        for count in (SMALL, LARGE):
            db = tmp / f"k-{count}.sqlite3"
            accounts.fill(db, count - 1, "key")
            server = servers[count] = JupyterServer(
                tmp / f"kernel-{count}", {"QbraidKeys": {"db_path": str(db)}}
            )
            server.start()
            status, body = server.request(
                "POST", "/qbraid-keys/api/v1/api-keys", {"name": "bench-use"}
            )
            if status != 201 or not body["data"].get("stored"):
                raise RuntimeError(f"could not create the key: {status} {body}")
            kernels[count] = BenchKernel(server, tmp)
            kernels[count].run(SETUP)
            times[count] = {"use": [], "page": [], "panel": []}
        for r in range(rounds):  # alternating, so that other load hits both alike
            for count in (SMALL, LARGE) if r % 2 == 0 else (LARGE, SMALL):
                out = kernels[count].run(ROUND.format(n=n, m=m))
                line = next(x for x in out.splitlines() if x.startswith("BENCH "))
                for key, values in json.loads(line[len("BENCH ") :]).items():
                    times[count][key] += values
    finally:
        for kernel in kernels.values():
            kernel.stop()
        for server in servers.values():
            server.stop()

    def p50(count: int, what: str) -> float:
        return statistics.median(times[count][what])

    add = report.figures.append
    use_large, use_small = p50(LARGE, "use"), p50(SMALL, "use")
    add(
        Figure(
            ITEM,
            f"%qbraid_key use, p50, {LARGE:,} keys",
            use_large,
            "ms",
            f"{SMALL} keys",
            use_small,
            "ratio <= 1.5",
            use_large / use_small <= 1.5,
        )
    )
    add(
        Figure(
            ITEM,
            f"KeysPanel() from the server (first page of 25), p50, {LARGE:,} keys",
            p50(LARGE, "panel"),
            "ms",
            f"{SMALL} keys",
            p50(SMALL, "panel"),
        )
    )
    report.note(
        ITEM,
        f"{rounds} alternating rounds of {n} runs of `use` (and {m} panels) per kernel, one "
        f"kernel per account size. `use` asks the server for its status (which checks the "
        "upstream) and for the key by name (`GET api-keys?name=`, one key whatever the "
        "account's size), then reads the value from the keyring. For reference, "
        f"`GET api-keys?limit=50` from the kernel: {p50(SMALL, 'page'):.2f} ms with {SMALL} "
        f"keys, {p50(LARGE, 'page'):.2f} ms with {LARGE:,} (a page of 10 keys, and of 50).",
    )
