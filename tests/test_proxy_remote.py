"""The proxy pointed at a remote upstream: a standalone key service, and a faulty one."""

from __future__ import annotations

import asyncio
import time

import pytest
import tornado.web
from tornado.netutil import bind_sockets

from qbraid_keys_ext.service import KeyService

from .loopback import ThreadedServer, serve_app

ACCOUNT_TOKEN = "test-account-token-0123456789"


@pytest.fixture(scope="module")
def remote_service(tmp_path_factory):
    """A standalone embedded-service instance standing in for qBraid's cloud."""
    service = KeyService(tmp_path_factory.mktemp("remote") / "keys.sqlite3", ACCOUNT_TOKEN)
    with ThreadedServer(lambda: service.start("127.0.0.1", 0), service.stop) as server:
        yield server.url


class Stall(tornado.web.RequestHandler):
    async def get(self, *args):
        await asyncio.sleep(30)


class ServerError(tornado.web.RequestHandler):
    def get(self, *args):
        self.set_status(500)
        self.finish("<html>Internal Server Error</html>")


class NotJson(tornado.web.RequestHandler):
    def get(self, *args):
        self.finish("<html>a login page</html>")


class Huge(tornado.web.RequestHandler):
    """10 MB of JSON: passes the size limit only when that is raised above it."""

    def get(self, *args):
        self.finish(b'{"success": true, "data": "' + b"x" * (10 * 1024 * 1024) + b'"}')


class HugeGarbage(tornado.web.RequestHandler):
    def get(self, *args):
        self.finish(b"<html>" + b"x" * (10 * 1024 * 1024))


class Drop(tornado.web.RequestHandler):
    def get(self, *args):
        self.request.connection.detach().close()


@pytest.fixture(scope="module")
def faulty_upstreams():
    """One loopback server whose path prefixes each misbehave in one way."""
    app = tornado.web.Application(
        [
            (r"/stall/(.*)", Stall),
            (r"/error/(.*)", ServerError),
            (r"/html/(.*)", NotJson),
            (r"/huge/(.*)", Huge),
            (r"/garbage/(.*)", HugeGarbage),
            (r"/drop/(.*)", Drop),
        ]
    )
    with serve_app(app) as server:
        yield server.url


def closed_port() -> int:
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    return port


class TestRemoteService:
    @pytest.fixture
    def upstream_config(self, remote_service):
        return {"upstream_url": remote_service, "access_token": ACCOUNT_TOKEN}

    async def test_manages_keys_on_the_remote_upstream(self, keys_api, remote_service):
        code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "remote-ci"})
        assert code == 201 and created["data"]["value"].startswith("qbr_")
        _, listed = await keys_api("GET", "api/v1/api-keys")
        assert "remote-ci" in [k["name"] for k in listed["data"]]
        _, status = await keys_api("GET", "status")
        assert status["upstream"] == {"kind": "remote", "url": remote_service, "reachable": True}
        assert ACCOUNT_TOKEN not in str(status)
        await keys_api("DELETE", "api/v1/api-keys", created["data"]["id"])


class TestWrongToken:
    @pytest.fixture
    def upstream_config(self, remote_service):
        return {"upstream_url": remote_service, "access_token": "not-the-token"}

    async def test_refused_credential_is_reported(self, keys_api):
        code, answer = await keys_api("GET", "api/v1/api-keys")
        assert code == 401 and answer["error"]["code"] == "UNAUTHORIZED"
        assert "not-the-token" not in answer["message"]


@pytest.mark.parametrize(
    ("prefix", "status", "code"),
    [
        ("closed", 502, "UPSTREAM_UNAVAILABLE"),
        ("stall", 504, "UPSTREAM_TIMEOUT"),
        ("error", 502, "UPSTREAM_UNAVAILABLE"),
        ("html", 502, "UPSTREAM_UNAVAILABLE"),
        ("huge", 502, "UPSTREAM_UNAVAILABLE"),
        ("garbage", 502, "UPSTREAM_UNAVAILABLE"),
        ("drop", 502, "UPSTREAM_UNAVAILABLE"),
    ],
)
class TestUpstreamFaults:
    @pytest.fixture
    def upstream_config(self, faulty_upstreams, prefix, monkeypatch):
        if prefix == "huge":  # an answer over the size limit (64 MiB; lowered to keep it light)
            monkeypatch.setattr("qbraid_keys_ext.upstream.MAX_ANSWER_BYTES", 1024 * 1024)
        if prefix == "closed":
            return {"upstream_url": f"http://127.0.0.1:{closed_port()}", "timeout": 2.0}
        return {"upstream_url": f"{faulty_upstreams}/{prefix}", "timeout": 2.0}

    async def test_fault_is_a_clear_json_error_within_the_timeout(
        self, keys_api, prefix, status, code
    ):
        started = time.monotonic()
        got, answer = await keys_api("GET", "api/v1/api-keys")
        assert time.monotonic() - started < 2.0 + 1.5
        assert (got, answer["success"], answer["error"]["code"]) == (status, False, code)
        assert "Check" in answer["message"] and "Traceback" not in answer["message"]

        _, state = await keys_api("GET", "status")
        assert state["upstream"]["reachable"] is False
