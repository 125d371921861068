"""Every route needs the server's credentials; state-changing ones need XSRF with cookies."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from jupyter_server.serverapp import ServerWebApplication
from tornado.httpclient import HTTPClientError

from qbraid_keys_ext.handlers import routes


@pytest.mark.parametrize(("pattern", "handler"), routes())
def test_every_handler_method_is_authenticated(pattern, handler):
    assert ServerWebApplication._check_handler_auth(None, pattern, handler) == []


def test_the_check_catches_a_missing_decorator():
    from qbraid_keys_ext.handlers import KeysHandler

    class Careless(KeysHandler):
        async def get(self) -> None:
            self.answer([])

    assert ServerWebApplication._check_handler_auth(None, "careless", Careless) != []


async def fetch(http_server_client, jp_base_url, path, **kw):
    try:
        return await http_server_client.fetch(f"{jp_base_url}{path}", **kw)
    except HTTPClientError as err:
        return err.response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "qbraid-keys/status"),
        ("GET", "qbraid-keys/api/v1/api-key-scopes"),
        ("GET", "qbraid-keys/api/v1/api-keys"),
        ("POST", "qbraid-keys/api/v1/api-keys"),
        ("GET", "qbraid-keys/api/v1/api-keys/key_0123456789abcdef"),
        ("PATCH", "qbraid-keys/api/v1/api-keys/key_0123456789abcdef"),
        ("DELETE", "qbraid-keys/api/v1/api-keys/key_0123456789abcdef"),
        ("POST", "qbraid-keys/api/v1/api-keys/key_0123456789abcdef/rotate"),
        ("GET", "qbraid-keys/api/v1/elsewhere"),
    ],
)
async def test_anonymous_requests_are_refused(
    http_server_client, jp_base_url, jp_serverapp, method, path
):
    body = b'{"name": "x"}' if method in ("POST", "PATCH") else None
    response = await fetch(http_server_client, jp_base_url, path, method=method, body=body)
    assert response.code in (401, 403)
    assert b"qbr_" not in response.body


async def login(http_server_client, jp_base_url, token: str) -> dict[str, str]:
    """Log in through the login form, as a browser does; returns the cookies."""
    page = await fetch(http_server_client, jp_base_url, "login")
    cookies: dict[str, str] = {}
    for header in page.headers.get_list("Set-Cookie"):
        cookies.update({k: m.value for k, m in SimpleCookie(header).items()})
    form = urlencode({"_xsrf": cookies["_xsrf"], "password": token})
    answer = await fetch(
        http_server_client,
        jp_base_url,
        "login",
        method="POST",
        body=form,
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        follow_redirects=False,
    )
    for header in answer.headers.get_list("Set-Cookie"):
        cookies.update({k: m.value for k, m in SimpleCookie(header).items()})
    return cookies


async def test_cookie_sessions_need_xsrf_to_change_state(
    http_server_client, jp_base_url, jp_serverapp
):
    cookies = await login(http_server_client, jp_base_url, jp_serverapp.identity_provider.token)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    path = "qbraid-keys/api/v1/api-keys"

    listed = await fetch(http_server_client, jp_base_url, path, headers={"Cookie": cookie})
    assert listed.code == 200

    body = json.dumps({"name": "cookie-key"})
    refused = await fetch(
        http_server_client, jp_base_url, path, method="POST", body=body, headers={"Cookie": cookie}
    )
    assert refused.code == 403

    accepted = await fetch(
        http_server_client,
        jp_base_url,
        path,
        method="POST",
        body=body,
        headers={"Cookie": cookie, "X-XSRFToken": cookies["_xsrf"]},
    )
    assert accepted.code == 201
    listed = await fetch(http_server_client, jp_base_url, path, headers={"Cookie": cookie})
    assert [k["name"] for k in json.loads(listed.body)["data"]] == ["cookie-key"]
