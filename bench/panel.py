"""Benchmark: time to build the KeysPanel for 1,000 keys.

The 1,000 key objects are real: they are created in and listed from the embedded key service
(on a loopback port, a temporary SQLite database). The panel is then built from them in this
process, and (unless `quick`) in a real IPython kernel, where every widget model is also sent
as a comm message, as in a notebook.

    python -m bench.panel          # full run
    python -m bench.panel --quick  # this process only
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEYS = 1000
REPO = Path(__file__).resolve().parents[1]


async def _fetch_keys(db: Path, count: int) -> tuple[list[dict[str, Any]], float, float]:
    from qbraid_keys_ext.service import KeyService
    from qbraid_keys_ext.upstream import KeyApiClient

    token = secrets.token_urlsafe(16)
    service = KeyService(db, token)
    url = await service.start("127.0.0.1", 0)
    try:
        client = KeyApiClient(f"{url}/api/v1", {"X-Access-Token": token}, timeout=30)
        started = time.perf_counter()
        for first in range(0, count, 50):
            batch = range(first, min(first + 50, count))
            await asyncio.gather(*(client.create_key({"name": f"key-{i:04}"}) for i in batch))
        created = time.perf_counter() - started
        started = time.perf_counter()
        keys = await client.list_keys()
        listed = time.perf_counter() - started
    finally:
        await service.stop()
    return keys, created, listed


def _timed(make: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = make()
    return result, time.perf_counter() - started


def _in_process(keys: list[dict[str, Any]]) -> dict[str, float]:
    from ipywidgets.widgets.widget import _instances

    from qbraid_keys_ext.widgets import KeysPanel

    figures: dict[str, float] = {}
    before = len(_instances)
    panel, figures["build_s"] = _timed(lambda: KeysPanel(keys))
    figures["build_widgets"] = float(len(_instances) - before)
    _, figures["next_page_s"] = _timed(panel.next_button.click)
    _, figures["filter_s"] = _timed(lambda: setattr(panel.filter_input, "value", "key-09"))
    _, figures["close_s"] = _timed(panel.close)
    before = len(_instances)
    panel, figures["build_all_rows_s"] = _timed(lambda: KeysPanel(keys, page_size=len(keys)))
    figures["build_all_rows_widgets"] = float(len(_instances) - before)
    panel.close()
    return figures


KERNEL_CODE = """
import json, time
from qbraid_keys_ext.widgets import KeysPanel
keys = json.load(open({path!r}))
t = time.perf_counter(); p = KeysPanel(keys); a = time.perf_counter() - t
p.close()
t = time.perf_counter(); p = KeysPanel(keys, page_size=len(keys)); b = time.perf_counter() - t
p.close()
print(json.dumps({{"kernel_build_s": a, "kernel_build_all_rows_s": b}}))
"""


def _in_kernel(keys_file: Path) -> dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    out: list[str] = []
    try:
        client.execute_interactive(
            KERNEL_CODE.format(path=str(keys_file)),
            output_hook=lambda m: (
                out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None
            ),
            timeout=120,
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return json.loads("".join(out).strip().splitlines()[-1])


def run(quick: bool) -> dict[str, float]:
    """Time building the panel for 1,000 keys from the embedded key service; seconds and counts."""
    with tempfile.TemporaryDirectory() as tmp:
        keys, created, listed = asyncio.run(_fetch_keys(Path(tmp) / "keys.sqlite3", KEYS))
        figures = {"keys": float(len(keys)), "create_1000_s": created, "list_1000_s": listed}
        figures.update(_in_process(keys))
        if not quick:
            keys_file = Path(tmp) / "keys.json"
            keys_file.write_text(json.dumps(keys))
            figures.update(_in_kernel(keys_file))
    return figures


def main() -> None:
    """Print the figures, one per line."""
    for name, value in run("--quick" in sys.argv[1:]).items():
        unit = "" if not name.endswith("_s") else " s"
        print(f"{name:28} {value:10.4f}{unit}" if unit else f"{name:28} {value:10.0f}")


if __name__ == "__main__":
    main()
