"""Keep-alive connections to the key API (`qbraid_keys_ext.connections`): reused between
requests, dropped and replaced when the server closes them, bounded in time."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from qbraid_keys_ext.connections import ConnectionDropped, ConnectionPool, UpstreamTimeout
from qbraid_keys_ext.upstream import KeyApiClient, KeyApiError


class Echo(tornado.web.RequestHandler):
    """Which connection served this request, and what it got."""

    def _answer(self) -> None:
        connections = self.application.settings["connections"]
        # the stream itself, kept: a closed one's id() could be reused by a new stream
        connections.add(self.request.connection.stream)
        self.finish(
            {
                "success": True,
                "data": {
                    "method": self.request.method,
                    "body": self.request.body.decode(),
                    "query": self.request.query,
                    "connections": len(connections),
                },
            }
        )

    get = post = patch = delete = _answer


class Closing(tornado.web.RequestHandler):
    """Answers, then asks the client to close the connection."""

    def get(self) -> None:
        self.set_header("Connection", "close")
        self.finish({"success": True, "data": "bye"})


class Zipped(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Encoding", "gzip")
        self.finish(gzip.compress(json.dumps({"success": True, "data": "x" * 5000}).encode()))


class Slow(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(5)


@pytest.fixture
def upstream(jp_asyncio_loop):
    """A tornado server in the test's loop, whose idle connections it closes after 0.3 s."""
    connections: set[object] = set()  # the server-side streams that served requests
    app = tornado.web.Application(
        [(r"/echo", Echo), (r"/closing", Closing), (r"/zipped", Zipped), (r"/slow", Slow)],
        connections=connections,
    )
    server = HTTPServer(app, idle_connection_timeout=0.3)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", connections
    server.stop()


async def test_one_connection_carries_many_requests(upstream):
    url, _ = upstream
    client = KeyApiClient(url)
    for i in range(5):
        data = await client.request("GET", "echo", params={"i": str(i)})
        assert data["query"] == f"i={i}"
    posted = await client.request("POST", "echo", {"name": "x"})
    assert posted == {"method": "POST", "body": '{"name": "x"}', "query": "", "connections": 1}
    assert (await client.request("PATCH", "echo"))["body"] == ""
    assert (await client.request("DELETE", "echo"))["connections"] == 1
    many = await asyncio.gather(*(client.request("GET", "echo") for _ in range(4)))
    assert max(d["connections"] for d in many) <= 4  # at once: one connection each


async def test_a_connection_the_server_closed_is_replaced(upstream):
    url, _ = upstream
    client = KeyApiClient(url)
    await client.request("GET", "echo")
    await asyncio.sleep(0.6)  # the server closes the idle connection
    assert (await client.request("GET", "echo"))["connections"] == 2
    assert await client.request("GET", "closing") == "bye"
    assert (await client.request("GET", "echo"))["connections"] == 3


async def test_a_stale_connection_is_retried_once_on_a_new_one():
    """The server closes a kept connection as the next request arrives: sent again, not lost."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(served) + 1
        served.append(0)
        while await reader.readuntil(b"\r\n\r\n"):
            if number == 1 and served[0] == 1:  # the first connection's second request
                break
            served[number - 1] += 1
            body = json.dumps({"success": True, "data": number}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        client = KeyApiClient(url)
        assert await client.request("GET", "one") == 1
        assert await client.request("GET", "two") == 2  # on a new connection
        assert await client.request("GET", "three") == 2  # which is kept
        assert served == [1, 2]
    finally:
        server.close()


async def test_gzip_answers_are_decoded(upstream):
    url, _ = upstream
    assert await KeyApiClient(url).request("GET", "zipped") == "x" * 5000


async def test_time_and_size_limits(upstream, monkeypatch):
    url, _ = upstream
    pool = ConnectionPool()
    with pytest.raises(UpstreamTimeout):
        await pool.fetch("GET", f"{url}/slow", {}, None, timeout=0.3, max_body=1 << 20)
    with pytest.raises(ConnectionDropped):
        await pool.fetch("GET", f"{url}/zipped", {}, None, timeout=5, max_body=100)
    monkeypatch.setattr("qbraid_keys_ext.upstream.MAX_ANSWER_BYTES", 50)
    with pytest.raises(KeyApiError) as err:
        await KeyApiClient(url).request("GET", "echo")
    assert (
        err.value.code == "UPSTREAM_UNAVAILABLE" and "dropped the connection" in err.value.message
    )
    # a fresh pool after the failures still works
    answer = await pool.fetch("GET", f"{url}/echo", {}, None, timeout=5, max_body=1 << 20)
    assert answer.code == 200
