"""Servers the benchmarks load, each in its own process, printing its URL when ready.

    python -m bench.serve ceiling            # bare tornado: verify's JSON, no lookup
    python -m bench.serve service --db PATH [--flush-interval S] [--credits N] [--job-workers N]

Both stop on SIGTERM/SIGINT (the key service after flushing usage), or after --lifetime
seconds, so nothing outlives a crashed benchmark run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from qbraid_keys_ext.service.app import ACCOUNT, API, SERVER_MAX_BODY

TOKEN_ENV = "QBRAID_KEYS_ACCESS_TOKEN"


class CeilingHandler(RequestHandler):
    """Answers what a successful verify answers, with the same headers, looking nothing up."""

    ANSWER = json.dumps(
        {
            "success": True,
            "data": {
                **ACCOUNT,
                "apiKey": {
                    "id": "key_0000000000000000",
                    "name": "bench",
                    "scopes": ["devices:read", "jobs:read", "jobs:write", "credits:read"],
                },
            },
        }
    )

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    async def get(self) -> None:
        self.finish(self.ANSWER)


async def _serve(args: argparse.Namespace) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    loop.call_later(args.lifetime, stopped.set)
    if args.kind == "ceiling":
        app = Application([(API + "/users/verify", CeilingHandler)])
        server = HTTPServer(app, max_body_size=SERVER_MAX_BODY)
        sockets = bind_sockets(args.port, address="127.0.0.1")
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        print(f"listening on {url}", flush=True)
        await stopped.wait()
        server.stop()
        return
    from qbraid_keys_ext.service import KeyService

    service = KeyService(
        args.db,
        os.environ[TOKEN_ENV],
        flush_interval=args.flush_interval,
        credits=args.credits,
        job_workers=args.job_workers,
    )
    url = await service.start("127.0.0.1", args.port)
    print(f"listening on {url}", flush=True)
    try:
        await stopped.wait()
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("kind", choices=["ceiling", "service"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", help="SQLite file of the key service")
    parser.add_argument("--flush-interval", type=float, default=2.0, help="0: write-through")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after this long")
    parser.add_argument("--credits", default="1000", help="the account's starting credits")
    parser.add_argument("--job-workers", type=int, help="simulator processes (default: service's)")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
