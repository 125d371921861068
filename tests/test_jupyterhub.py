"""The key service as a JupyterHub service: two Hub users, each with their own Lab, isolated.

A real JupyterHub (configured by docs/jupyterhub/jupyterhub_config.py, the documented config),
its configurable-http-proxy, the key service it manages on a real PostgreSQL, and single-user
servers of alice and bob with the extension, all on loopback. Each Lab reaches the service with
no per-user configuration; alice creates a key and uses it in a kernel of her Lab; bob sees none
of alice's keys and can neither use, rotate, rename nor revoke them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from .hub import Hub, proxy_missing_reason
from .kernel_helpers import assert_absent
from .lab_server import CHROMIUM, CHROMIUM_ARGS, require_browser
from .standalone import QBRAID_KEYS


@pytest.fixture(scope="module")
def hub(tmp_path_factory, postgres):
    reason = proxy_missing_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    started = Hub(tmp_path_factory.mktemp("hub"), postgres.database()).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def labs(hub):
    """(base URL, API token) of alice's and bob's Labs, through the Hub's proxy."""
    return {user: (hub.start_server(user), hub.token(user)) for user in ("alice", "bob")}


def lab(hub: Hub, labs, user: str, method: str, path: str, body=None):
    base, token = labs[user]
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    return hub.call(f"{base}qbraid-keys/{path}", method, body, headers)


async def run_in_kernel(base: str, token: str, code: str) -> str:
    """Run code in a new kernel of a Lab (over its websocket); its stdout, or fail."""
    auth = {"Authorization": f"token {token}"}
    response = await AsyncHTTPClient().fetch(
        f"{base}api/kernels", method="POST", body="{}", headers=auth
    )
    kernel = json.loads(response.body)["id"]
    ws_url = base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers=auth))
    msg_id = uuid.uuid4().hex
    conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
                "channel": "shell",
                "buffers": [],
            }
        )
    )  # fmt: skip
    out, errors = [], []
    try:
        while True:
            raw = await asyncio.wait_for(conn.read_message(), 120)
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
    finally:
        conn.close()
        await AsyncHTTPClient().fetch(
            f"{base}api/kernels/{kernel}", method="DELETE", headers=auth, raise_error=False
        )
    assert not errors, errors
    return "".join(out)


USE_AND_VERIFY = """
%load_ext qbraid_keys_ext
%qbraid_key use ci
import json, os, urllib.request
url, value = os.environ["QBRAID_API_URL"], os.environ["QBRAID_API_KEY"]
request = urllib.request.Request(url + "/users/verify", headers={"X-API-Key": value})
print("verified as", json.load(urllib.request.urlopen(request))["data"]["userId"])
"""


async def test_two_hub_users_manage_and_use_their_own_keys_isolated(hub, labs, leak_registry):
    # Each Lab found the service by itself, and authenticates there as its Hub user.
    for user in ("alice", "bob"):
        status, state = lab(hub, labs, user, "GET", "status")
        assert status == 200, state
        upstream = state["upstream"]
        assert upstream["auth"] == "jupyterhub" and upstream["url"] == hub.service_url
        assert upstream["reachable"] is True

    status, created = lab(hub, labs, "alice", "POST", "api/v1/api-keys", {"name": "ci"})
    assert status == 201, created
    key = created["data"]
    leak_registry.add_values(key["value"])
    assert key["stored"] is True and "storeError" not in created
    _, listed = lab(hub, labs, "alice", "GET", "api/v1/api-keys")
    assert [k["id"] for k in listed["data"]] == [key["id"]]

    # alice uses it in a kernel of her Lab; the key service says it is hers
    out = await run_in_kernel(*labs["alice"], USE_AND_VERIFY)
    assert "Using qBraid API key 'ci'" in out and "verified as alice" in out
    assert_absent(key["value"], out, "alice's kernel output")

    # bob sees none of alice's keys and can change none of them
    _, listed = lab(hub, labs, "bob", "GET", "api/v1/api-keys")
    assert listed["data"] == []
    own = f"api/v1/api-keys/{key['id']}"
    for method, path, body in [
        ("GET", own, None),
        ("PATCH", own, {"status": "inactive"}),
        ("PATCH", own, {"name": "mine"}),
        ("POST", own + "/rotate", None),
        ("DELETE", own, None),
    ]:
        status, answer = lab(hub, labs, "bob", method, path, body)
        assert (status, answer["error"]["code"]) == (404, "NOT_FOUND"), (method, path)
    _, events = lab(hub, labs, "bob", "GET", "api/v1/events")
    assert events["data"] == []
    status, theirs = lab(hub, labs, "bob", "POST", "api/v1/api-keys", {"name": "ci"})
    assert status == 201  # the same name in another account
    leak_registry.add_values(theirs["data"]["value"])

    # bob's Lab holds no value of alice's: `use ci` there gets bob's own key
    out = await run_in_kernel(*labs["bob"], USE_AND_VERIFY)
    assert "verified as bob" in out

    # alice's key is untouched, and still verifies as hers, also through the Hub's proxy
    _, details = lab(hub, labs, "alice", "GET", own)
    assert (details["data"]["status"], details["data"]["name"]) == ("active", "ci")
    assert details["data"]["hint"] == key["hint"]
    assert details["data"]["usage"]["total"] >= 1
    status, verified = hub.call(
        f"{hub.url}/services/qbraid-keys/api/v1/users/verify",
        headers={"X-API-Key": key["value"]},
    )
    assert (status, verified["data"]["userId"]) == (200, "alice")

    # `qbraid-keys` in alice's Lab terminal finds her server and lists her keys only
    env = {"HOME": str(hub.root / "home" / "alice"), "PATH": os.environ["PATH"],
           "JUPYTERHUB_API_TOKEN": labs["alice"][1], "QBRAID_KEYS_KEYRING": "file"}  # fmt: skip
    listed = subprocess.run(
        [QBRAID_KEYS, "list", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert [k["id"] for k in json.loads(listed.stdout)] == [key["id"]]

    # the service itself: no token, no account; a Hub token is its user's account
    assert hub.call(f"{hub.service_url}/api/v1/api-keys")[0] == 401
    status, answer = hub.call(
        f"{hub.service_url}/api/v1/api-keys", headers={"Authorization": "token not-a-hub-token"}
    )
    assert status == 401 and "JupyterHub API token" in answer["message"]
    status, answer = hub.call(
        f"{hub.url}/services/qbraid-keys/api/v1/api-keys",
        headers={"Authorization": f"token {labs['bob'][1]}"},
    )
    assert status == 200 and [k["id"] for k in answer["data"]] == [theirs["data"]["id"]]


def test_the_sidebar_in_a_hub_users_lab(hub, labs, leak_registry):
    """alice logs in to the Hub in Chromium: her Lab's sidebar lists her keys only, and a key
    created there is hers (through the Hub's proxy, its cookies and XSRF check)."""
    from playwright.sync_api import sync_playwright

    from .browser.test_sidebar import DIALOG, PANEL, TAB, close_value_box, read_value_box, row

    require_browser()
    for user, name in (("alice", "alices-own"), ("bob", "bobs-own")):
        status, created = lab(hub, labs, user, "POST", "api/v1/api-keys", {"name": name})
        assert status == 201, created
        leak_registry.add_values(created["data"]["value"])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(30_000)
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", "alice")
            page.fill("#password_input", "any")  # the dummy authenticator takes any password
            page.click("#login_submit")
            page.wait_for_url("**/user/alice/**", timeout=60_000)
            page.goto(f"{hub.url}/user/alice/lab")
            page.click(TAB, timeout=90_000)
            row(page, "alices-own").wait_for()
            assert row(page, "bobs-own").count() == 0

            page.click(f"{PANEL} .qbk-Create")
            page.locator(f"{DIALOG} .qbk-Form-input").fill("from-sidebar")
            page.click(f"{DIALOG} button.jp-mod-accept")
            value = read_value_box(page)
            leak_registry.add_values(value)
            close_value_box(page)
            row(page, "from-sidebar").wait_for()
            assert value not in page.content()
        finally:
            browser.close()

    _, mine = lab(hub, labs, "alice", "GET", "api/v1/api-keys")
    made = {k["name"]: k for k in mine["data"]}["from-sidebar"]
    assert made["stored"] is True  # in alice's keyring, under her home
    _, theirs = lab(hub, labs, "bob", "GET", "api/v1/api-keys")
    assert "from-sidebar" not in {k["name"] for k in theirs["data"]}
    status, verified = hub.call(
        f"{hub.url}/services/qbraid-keys/api/v1/users/verify", headers={"X-API-Key": value}
    )
    assert (status, verified["data"]["userId"]) == (200, "alice")
