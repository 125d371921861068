"""Run the key service standalone: ``python -m qbraid_keys_ext.service --db PATH --port N``."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from .app import KeyService
from .jobs import DEFAULT_CREDITS
from .ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW
from .store import sqlite_path

TOKEN_ENV = "QBRAID_KEYS_ACCESS_TOKEN"


def _access_token(token_file: str | None) -> str:
    """Return the account token from the file, else the environment, or exit with one line."""
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            sys.exit(f"qbraid-keys service: cannot read access token file: {exc.strerror}")
        if not token:
            sys.exit(f"qbraid-keys service: access token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        sys.exit(f"qbraid-keys service: no access token; set {TOKEN_ENV} or --access-token-file")
    return token


async def serve(db: str, host: str, port: int, token: str, **options: float) -> None:
    """Serve until SIGTERM or SIGINT, then flush usage and stop."""
    service = KeyService(db, token, **options)  # type: ignore[arg-type]
    url = await service.start(host, port)
    print(f"qBraid key service listening on {url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the service."""
    parser = argparse.ArgumentParser(prog="python -m qbraid_keys_ext.service", description=__doc__)
    parser.add_argument("--db", required=True, help="SQLite database file (a path, not a URL)")
    parser.add_argument("--port", required=True, type=int, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--access-token-file", help=f"file holding the account token (else ${TOKEN_ENV})"
    )
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=2.0,
        help="seconds between writes of usage counts; a crash loses at most this much "
        "(default 2; 0: write on every verify)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"authentication failures allowed per client IP and window, then 429 "
        f"(default {DEFAULT_LIMIT}; 0: no limit)",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=DEFAULT_WINDOW,
        help=f"the rate limit's sliding window in seconds (default {DEFAULT_WINDOW:g})",
    )
    parser.add_argument(
        "--credits",
        type=float,
        default=float(DEFAULT_CREDITS),
        help=f"the account's credit balance when the database is new (default {DEFAULT_CREDITS})",
    )
    parser.add_argument(
        "--job-workers",
        type=int,
        default=None,
        help="simulator processes running quantum jobs (default: one per core, at most 2)",
    )
    args = parser.parse_args(argv)
    if args.rate_limit < 0 or args.rate_window <= 0:
        parser.error("--rate-limit must be >= 0 and --rate-window > 0")
    try:
        sqlite_path(args.db)
    except ValueError as exc:
        sys.exit(f"qbraid-keys service: --db: {exc}")
    if args.credits < 0 or (args.job_workers is not None and args.job_workers < 1):
        parser.error("--credits must be >= 0 and --job-workers >= 1")
    token = _access_token(args.access_token_file)
    options = {
        "flush_interval": args.flush_interval,
        "rate_limit": args.rate_limit,
        "rate_window": args.rate_window,
        "credits": str(args.credits),
        "job_workers": args.job_workers,
    }
    try:
        asyncio.run(serve(args.db, args.host, args.port, token, **options))
    except OSError as exc:
        sys.exit(f"qbraid-keys service: cannot start: {exc}")


if __name__ == "__main__":
    main()
