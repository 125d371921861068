"""Item 5a: `%qbraid_key use NAME` in a running kernel.

A real `jupyter server` (embedded key service) holds a key created through its API (so the
value is in its keyring); a real IPython kernel, told where the server is, times the magic
in a loop. Baseline: the one call `use` cannot do without, a `GET api-keys` through the
same server from the same kernel with the project's client.
"""

from __future__ import annotations

import json
from pathlib import Path

from .jupyter import JupyterServer
from .report import Figure, Run

ITEM = "5 kernel"

CODE = """
import contextlib, io, json, statistics, time
from qbraid_keys_ext.kernel.server import run_sync, server_client
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

def listing():
    run_sync(lambda: server_client().request("GET", "api-keys"))

use(); listing()  # warm
import os
assert os.environ.get("QBRAID_API_KEY", "").startswith("qbr_")
figures = {{"use": timed(use, {n}), "list": timed(listing, {n})}}
print("BENCH " + json.dumps(figures))
"""


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the kernel figure."""
    from jupyter_client.manager import KernelManager

    n = 20 if quick else 100
    server = JupyterServer(tmp / "kernel", {"QbraidKeys": {"db_path": str(tmp / "k.sqlite3")}})
    manager = client = None
    try:
        server.start()
        status, body = server.request("POST", "/qbraid-keys/api/v1/api-keys", {"name": "bench-use"})
        if status != 201 or not body["data"].get("stored"):
            raise RuntimeError(f"could not create the key: {status} {body}")
        env = {
            **server.env,
            "QBRAID_KEYS_SERVER_URL": server.url + "/",
            "QBRAID_KEYS_SERVER_TOKEN": server.token,
        }
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env=env, cwd=str(tmp))
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict) -> None:
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                errors.append(msg["content"]["ename"] + ": " + msg["content"]["evalue"])

        client.execute_interactive(CODE.format(n=n), output_hook=hook, timeout=180)
        if errors:
            raise RuntimeError("; ".join(errors))
        line = next(x for x in "".join(out).splitlines() if x.startswith("BENCH "))
        times = json.loads(line[len("BENCH ") :])
    finally:
        if client is not None:
            client.stop_channels()
        if manager is not None:
            manager.shutdown_kernel(now=True)
        server.stop()
    use = sorted(times["use"])[len(times["use"]) // 2]
    listing = sorted(times["list"])[len(times["list"]) // 2]
    report.figures.append(
        Figure(ITEM, "%qbraid_key use, p50", use, "ms", "GET api-keys from the kernel", listing)
    )
    report.note(
        ITEM,
        f"{n} runs each in one kernel. `use` asks the server for its status (which checks "
        "the upstream) and the key list, then reads the value from the keyring: about two "
        "list round trips plus a keyring read.",
    )
