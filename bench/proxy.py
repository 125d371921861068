"""Item 3: latency our proxy adds to `GET api-keys`, beside jupyter-server-proxy's.

One standalone key service (`python -m qbraid_keys_ext.service`, 20 keys) is reached three
ways, one request at a time on a keep-alive connection, in interleaved rounds, for the
whole list (`GET api-keys`, full key objects), one page of it (`GET api-keys?limit=50`, what
every part of the project asks for now) and the scopes (no keyring step, a tiny answer):

- direct: `GET {service}/api/v1/api-keys` (the baseline);
- ours: `GET {jupyter}/qbraid-keys/api/v1/api-keys` (`c.QbraidKeys.upstream_url` = service);
- peer: `GET {jupyter}/proxy/127.0.0.1:{port}/api/v1/api-keys` through jupyter-server-proxy
  in the same Jupyter server (the client then has to send the account token itself).

Added latency = p50(path) - p50(direct), computed per round, median over rounds.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from . import accounts
from .jupyter import JupyterServer
from .processes import Server, load, python_env
from .report import Figure, Run

ITEM = "3 proxy"
TOKEN = "bench-proxy-account-token"
ROUTES = ("api-keys", "api-keys?limit=50", "api-key-scopes")
TARGET = 0.8


def _peer_available() -> bool:
    try:
        import jupyter_server_proxy  # noqa: F401
    except ImportError:
        return False
    return True


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 3."""
    rounds, requests = (2, 60) if quick else (5, 200)
    accounts.fill(tmp / "proxy.sqlite3", 20)
    service = Server(
        [
            sys.executable,
            "-m",
            "qbraid_keys_ext.service",
            "--db",
            str(tmp / "proxy.sqlite3"),
            "--port",
            "0",
        ],
        python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN}),
    )
    peer = _peer_available()
    jupyter: JupyterServer | None = None
    samples: dict[str, list[dict]] = {}
    try:
        service.start()
        port = service.url.rsplit(":", 1)[1]
        jupyter = JupyterServer(
            tmp / "jupyter",
            {"QbraidKeys": {"upstream_url": service.url}},
            {"QBRAID_ACCESS_TOKEN": TOKEN},
        )
        jupyter.start()
        auth = f"Authorization: token {jupyter.token}"
        account = f"X-Access-Token: {TOKEN}"
        paths: dict[str, tuple[str, list[str]]] = {}
        for route in ROUTES:
            paths[f"direct {route}"] = (f"{service.url}/api/v1/{route}", [account])
            paths[f"ours {route}"] = (f"{jupyter.url}/qbraid-keys/api/v1/{route}", [auth])
            if peer:
                paths[f"peer {route}"] = (
                    f"{jupyter.url}/proxy/127.0.0.1:{port}/api/v1/{route}",
                    [auth, account],
                )
        samples = {name: [] for name in paths}
        names = list(paths)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                url, headers = paths[name]
                args = ["--connections", "1", "--requests", str(requests), "--warmup", "0.3"]
                for header in headers:
                    args += ["--header", header]
                figures = load(url, *args)
                if figures["errors"]:
                    raise RuntimeError(f"proxy path {name}: {figures['statuses']}")
                samples[name].append(figures)
    finally:
        if jupyter is not None:
            jupyter.stop()
        service.stop()

    def p50(name: str) -> float:
        return statistics.median(s["p50_ms"] for s in samples[name])

    def added(way: str, route: str) -> float:
        pairs = zip(samples[f"{way} {route}"], samples[f"direct {route}"], strict=True)
        return statistics.median(a["p50_ms"] - d["p50_ms"] for a, d in pairs)

    add = report.figures.append
    lst, page, scopes = ROUTES
    add(
        Figure(
            ITEM,
            "GET api-keys p50 through our proxy",
            p50(f"ours {lst}"),
            "ms",
            "straight to the service",
            p50(f"direct {lst}"),
        )
    )
    p99 = statistics.median(s["p99_ms"] for s in samples[f"ours {lst}"])
    p99_direct = statistics.median(s["p99_ms"] for s in samples[f"direct {lst}"])
    add(
        Figure(
            ITEM,
            "GET api-keys p99 through our proxy",
            p99,
            "ms",
            "straight to the service",
            p99_direct,
        )
    )
    if not peer:
        add(
            Figure(
                ITEM,
                "p50 added by our proxy vs jupyter-server-proxy",
                None,
                "ms",
                target=f"ratio < {TARGET}",
                note="jupyter-server-proxy is not installed",
            )
        )
        return
    add(
        Figure(
            ITEM,
            "GET api-keys p50 through jupyter-server-proxy",
            p50(f"peer {lst}"),
            "ms",
            "straight to the service",
            p50(f"direct {lst}"),
        )
    )
    for route, label, target in (
        (lst, "GET api-keys (20 full key objects, 27 kB)", True),
        (page, "GET api-keys?limit=50 (a page: 20 list items, 6 kB)", True),
        (scopes, "GET api-key-scopes (no keyring, 0.5 kB)", False),
    ):
        ours, theirs = added("ours", route), added("peer", route)
        add(
            Figure(
                ITEM,
                f"p50 added to {label} by our proxy",
                ours,
                "ms",
                "added by jupyter-server-proxy",
                theirs,
                f"ratio < {TARGET}" if target else "",
                ours / theirs < TARGET if target and theirs > 0 else None,
            )
        )
    report.note(
        ITEM,
        f"{rounds} interleaved rounds of {requests} sequential keep-alive requests per path and "
        "route. jupyter-server-proxy opens a new upstream connection per request (tornado's "
        "simple client) and streams the bytes through unchanged. Ours keeps its upstream "
        "connections open (qbraid_keys_ext/connections.py: tornado's HTTP1Connection over "
        "pooled streams), reads the ids of the keys with json's C scanner, asks the keyring "
        "once for all of them ('stored'; the file keyring is read again only when it changed) "
        'and writes `"stored"` into the upstream\'s own JSON text instead of encoding the '
        "list again (qbraid_keys_ext/listing.py). api-key-scopes, with no keyring step and a "
        "tiny answer, shows each proxy's fixed cost.",
    )
