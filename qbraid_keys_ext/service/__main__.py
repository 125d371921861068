"""Run the key service standalone: ``python -m qbraid_keys_ext.service --db PATH --port N``.

``--db`` is a SQLite file or a ``postgresql://`` URL (any number of processes may share one
PostgreSQL database). ``--jupyterhub`` runs it as a JupyterHub service: management requests
then authenticate with the user's Hub API token and work on that user's account.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from urllib.parse import urlsplit

from .accounts import hub_auth_from_environment
from .app import KeyService
from .backends import check_db
from .jobs import DEFAULT_CREDITS
from .ratelimit import DEFAULT_LIMIT, DEFAULT_WINDOW

TOKEN_ENV = "QBRAID_KEYS_ACCESS_TOKEN"
DB_ENV = "QBRAID_KEYS_DB"


def _access_token(token_file: str | None, required: bool = True) -> str:
    """Return the account token from the file, else the environment, or exit with one line.

    Not ``required`` (a JupyterHub service): '' when neither is given.
    """
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
    if not token and required:
        sys.exit(f"qbraid-keys service: no access token; set {TOKEN_ENV} or --access-token-file")
    return token


async def serve(db: str, host: str, port: int, token: str, **options: object) -> None:
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
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV) or None,
        help=f"SQLite database file, or a postgresql:// URL (default ${DB_ENV}, which keeps "
        "a password out of the process list)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="TCP port (0: any free port); with --jupyterhub, JUPYTERHUB_SERVICE_URL's by default",
    )
    parser.add_argument(
        "--host",
        help="address to bind (default 127.0.0.1; with --jupyterhub, JUPYTERHUB_SERVICE_URL's)",
    )
    parser.add_argument(
        "--jupyterhub",
        action="store_true",
        help="run as a JupyterHub service: accept users' Hub API tokens "
        "(Authorization: token ...), one account per Hub user; the account token is optional",
    )
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
        help=f"each account's credit balance when it first uses quantum jobs "
        f"(default {DEFAULT_CREDITS})",
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
    if not args.db:
        parser.error(f"--db is required (or set {DB_ENV})")
    try:
        check_db(args.db)
    except ValueError as exc:
        sys.exit(f"qbraid-keys service: --db: {exc}")
    if args.credits < 0 or (args.job_workers is not None and args.job_workers < 1):
        parser.error("--credits must be >= 0 and --job-workers >= 1")
    token = _access_token(args.access_token_file, required=not args.jupyterhub)
    options: dict[str, object] = {
        "flush_interval": args.flush_interval,
        "rate_limit": args.rate_limit,
        "rate_window": args.rate_window,
        "credits": str(args.credits),
        "job_workers": args.job_workers,
    }
    host, port = args.host, args.port
    if args.jupyterhub:
        try:
            options["hub_auth"] = hub_auth_from_environment()
        except RuntimeError as exc:
            sys.exit(f"qbraid-keys service: {exc}")
        options["prefix"] = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
        own = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
        host = host or own.hostname
        port = port if port is not None else own.port
    if port is None:
        parser.error("--port is required (or --jupyterhub with JUPYTERHUB_SERVICE_URL set)")
    try:
        asyncio.run(serve(args.db, host or "127.0.0.1", port, token, **options))
    except OSError as exc:
        sys.exit(f"qbraid-keys service: cannot start: {exc}")
    except Exception as exc:  # e.g. PostgreSQL refused the connection; never the URL
        sys.exit(f"qbraid-keys service: cannot start: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
