"""Item 5b: time the extension adds to `jupyter server` start-up (with and without, same run).

Each start is a fresh isolated `jupyter server` process; start-up is the time from launching
it to the first 200 answer of `/api/status`. Runs alternate with and without the extension
(switched off in the isolated user config), medians compared. The embedded key service is
started by the extension as the server starts, so it is included.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .jupyter import JupyterServer
from .report import Figure, Run

ITEM = "5 start-up"


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the start-up figure."""
    runs = 2 if quick else 5
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(runs):
        for enabled in (True, False) if i % 2 == 0 else (False, True):
            root = tmp / f"startup-{i}-{enabled}"
            config = {
                "ServerApp": {"jpserver_extensions": {"qbraid_keys_ext": enabled}},
                "QbraidKeys": {"db_path": str(root / "keys.sqlite3")},
            }
            server = JupyterServer(root, config)
            try:
                times[enabled].append(server.start())
                if enabled:
                    status, body = server.request("GET", "/qbraid-keys/status")
                    if status != 200 or not body["upstream"].get("reachable"):
                        raise RuntimeError(f"extension not ready: {status} {body}")
                else:
                    status, _ = server.request("GET", "/qbraid-keys/status")
                    if status != 404:
                        raise RuntimeError("the extension was not switched off")
            finally:
                server.stop()
    with_ext, without = statistics.median(times[True]), statistics.median(times[False])
    report.figures.append(
        Figure(
            ITEM, "jupyter server start-up with the extension", with_ext, "s", "without it", without
        )
    )
    report.figures.append(
        Figure(
            ITEM,
            "start-up time added by the extension",
            with_ext - without,
            "s",
            "start-up without it",
            without,
        )
    )
    report.note(
        ITEM,
        f"{runs} starts each, alternating; with: "
        + ", ".join(f"{t:.2f}" for t in times[True])
        + " s; without: "
        + ", ".join(f"{t:.2f}" for t in times[False])
        + " s.",
    )
