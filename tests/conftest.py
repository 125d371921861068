"""Shared fixtures: a real Jupyter server with the extension, on the embedded key service.

Async tests (`async def test_...`) run in pytest-jupyter's loop, the same loop as the in-process
Jupyter server. pytest-asyncio is deliberately not used (it runs tests in another loop, where
`jp_fetch` hangs): fixtures are plain functions; a server a fixture needs runs either in
`tests/loopback.py`'s `ThreadedServer` (its own thread and loop) or via
`jp_asyncio_loop.run_until_complete(...)`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .leakscan import LEAKS, LeakRegistry, attach_to_isolated_loggers
from .leakscan import install as install_leak_recording

pytest_plugins = ("pytest_jupyter.jupyter_server",)


# -- leak scan (issue 7) ------------------------------------------------------------------
# `tests/leakscan.py` records, for the whole session, every key value the suite's services
# issue and every answer, log record and file where a value must never be;
# `tests/test_leaks.py` runs last and asserts zero hits. Tests whose values come from a
# subprocess, or who hold texts worth scanning (widget state, kernel output), use the
# `leak_registry` fixture: `.add_values(v)`, `.record(source, text)`, `.add_path(p)`.


def pytest_configure(config):
    install_leak_recording(LEAKS)


def pytest_collection_modifyitems(session, config, items):
    """The leak scan runs after every other test."""
    items.sort(key=lambda item: item.path.name == "test_leaks.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Before each test body: listen to loggers created by its fixtures; allow its keyring."""
    attach_to_isolated_loggers(LEAKS)
    keyring_file = os.environ.get("QBRAID_KEYS_KEYRING_FILE")
    if keyring_file:
        LEAKS.allow_keyring_file(keyring_file)
    return (yield)


@pytest.fixture(scope="session")
def leak_registry() -> LeakRegistry:
    """The session's leak registry (see tests/leakscan.py)."""
    return LEAKS


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/postgres.py); skipped where Debian's
    `postgresql` is not installed, except under CI=true, where that fails."""
    from .postgres import PostgresServer, bin_dir

    if bin_dir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """The URL of a fresh PostgreSQL database for this test."""
    return postgres.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request, tmp_path) -> str:
    """A fresh key store, once on SQLite (a file) and once on PostgreSQL (a URL)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "store" / "keys.sqlite3")


@pytest.fixture
def start_service(tmp_path, jp_asyncio_loop):
    """Start real key services on loopback, in the loop async tests run in; stopped after.

    `start_service(token, db=None, **options)` returns the started `KeyService`; without
    `db` the first one's database is `tmp_path / "keys.sqlite3"`.
    """
    from qbraid_keys_ext.service import KeyService

    started: list[KeyService] = []

    def start(token: str, db: str | None = None, **options: Any) -> KeyService:
        name = "keys.sqlite3" if not started else f"keys-{len(started)}.sqlite3"
        service = KeyService(db or tmp_path / name, token, **options)
        jp_asyncio_loop.run_until_complete(service.start())
        started.append(service)
        return service

    yield start
    for service in started:
        jp_asyncio_loop.run_until_complete(service.stop())


@pytest.fixture
def upstream_config() -> dict[str, Any]:
    """Extra `QbraidKeys` settings; override in a module to point at another upstream."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path, upstream_config):
    return {
        "ServerApp": {"jpserver_extensions": {"qbraid_keys_ext": True}},
        "QbraidKeys": {"db_path": str(tmp_path / "keys" / "keys.sqlite3"), **upstream_config},
    }


@pytest.fixture
def keys_api(jp_fetch):
    """Call `qbraid-keys/...` like a user's browser would; returns (status, JSON answer)."""

    async def call(method: str, *path: str, body: Any = None, raw: bytes | None = None, **kw):
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is None and method in ("POST", "PATCH", "PUT"):
            raw = b""
        try:
            response = await jp_fetch(
                "qbraid-keys", *path, method=method, body=raw, allow_nonstandard_methods=True, **kw
            )
        except HTTPClientError as err:
            response = err.response
        return response.code, json.loads(response.body)

    return call
