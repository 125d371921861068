"""What the Jupyter server's log says about qbraid-keys: each request once, with the reason
when it failed, and a start-up message that is true."""

from __future__ import annotations

import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from .lab_server import LabServer, free_port

pytestmark = pytest.mark.timeout(120)
MISSING = "key_0000000000000000"


class JupyterServer(LabServer):
    """A plain `jupyter server` with the extension, logging at debug level to a file."""

    module = "jupyter_server"
    app_args = ("--ServerApp.log_level=DEBUG",)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = JupyterServer(tmp_path_factory.mktemp("log")).start()
    try:
        yield server
    finally:
        server.stop()


def log_lines(server: JupyterServer) -> list[str]:
    return server.log_path.read_text(errors="replace").splitlines()


def new_lines(server: JupyterServer, seen: int, wait_for: str = "") -> list[str]:
    """The log's lines after the first `seen`, once one contains `wait_for` (a loaded machine
    may take a while to write them)."""
    deadline = time.monotonic() + 30
    while True:
        lines = log_lines(server)[seen:]
        if any(wait_for in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_the_embedded_service_starts_with_the_server(server):
    # No qbraid-keys request has been made: the service still starts, as the log says.
    lines = new_lines(server, 0, "embedded key service started at")
    said = [line for line in lines if "qBraid keys:" in line]
    assert any(
        "upstream the embedded key service (starts with the server)" in line for line in said
    ), said
    [started] = [line for line in said if "embedded key service started at" in line]
    assert re.search(r"started at http://127\.0\.0\.1:\d+ \(", started)
    assert not [line for line in lines if "qbraid-keys/" in line]  # no request did it


def test_each_request_appears_once(server):
    new_lines(server, 0, "embedded key service started at")
    seen = len(log_lines(server))
    assert server.keys("GET", "api-keys")[0] == 200
    lines = [line for line in new_lines(server, seen, "200 GET") if "api-keys" in line]
    assert len(lines) == 1 and "200 GET /qbraid-keys/api/v1/api-keys" in lines[0], lines

    seen = len(log_lines(server))
    assert server.keys("GET", f"api-keys/{MISSING}")[0] == 404
    lines = [line for line in new_lines(server, seen, "404 GET") if MISSING in line]
    assert len(lines) == 1, lines  # it used to be three: the service's, ours, the server's
    assert lines[0].startswith("[W ")
    assert f"404 GET /qbraid-keys/api/v1/api-keys/{MISSING}" in lines[0]
    assert lines[0].endswith(f"NOT_FOUND: No API key with id '{MISSING}' exists.")

    # A kernel's qBraid SDK calls the service directly: the service logs it, once.
    upstream = server.request("GET", "qbraid-keys/status")[1]["upstream"]["url"]
    seen = len(log_lines(server))
    request = urllib.request.Request(f"{upstream}/api/v1/users/verify")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10)
    lines = [line for line in new_lines(server, seen, "users/verify") if "users/verify" in line]
    assert len(lines) == 1 and "qBraid key service: 401 GET /api/v1/users/verify" in lines[0]


class TestUpstreamDown:
    @pytest.fixture
    def upstream_config(self):
        return {"upstream_url": f"http://127.0.0.1:{free_port()}"}

    async def test_a_failure_appears_once_with_its_reason(self, keys_api, caplog):
        caplog.set_level(logging.DEBUG)
        assert (await keys_api("GET", "api/v1/api-keys"))[0] == 502
        [record] = [r for r in caplog.records if "api-keys" in r.getMessage()]
        line = record.getMessage()
        assert record.levelname == "ERROR" and line.startswith("502 GET /")
        assert "UPSTREAM_UNAVAILABLE: The qBraid key service at http://127.0.0.1:" in line
        assert "refused the connection" in line
