"""The Jupyter server routes (Contract 2) against the real embedded key service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from qbraid_keys_ext.upstream import KeyApiClient, KeyApiError


@pytest.fixture
def extension(jp_serverapp):
    """The running QbraidKeys extension app."""
    return next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))


async def verify(extension, value: str) -> dict | KeyApiError:
    """Use a key value against the upstream, as qbraid-core would (bypassing the proxy)."""
    client = KeyApiClient(f"{extension.upstream_root}/api/v1")
    try:
        return await client.verify(value)
    except KeyApiError as err:
        return err


async def test_fresh_server_lists_no_keys(keys_api):
    assert await keys_api("GET", "api/v1/api-keys") == (200, {"success": True, "data": []})


async def test_status_names_embedded_upstream(keys_api, extension):
    await keys_api("GET", "api/v1/api-keys")
    code, status = await keys_api("GET", "status")
    assert code == 200
    assert status["upstream"]["kind"] == "embedded"
    assert status["upstream"]["reachable"] is True
    assert status["upstream"]["url"].startswith("http://127.0.0.1:")
    assert set(status["keyring"]) >= {"backend", "secure"}
    assert status["version"]
    assert extension._embedded_token not in str(status)


async def test_value_is_shown_once(keys_api):
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    assert code == 201 and created["success"]
    key = created["data"]
    value = key["value"]
    assert value.startswith("qbr_") and len(value) == 68
    assert key["hint"] == f"qbr_{value[4:8]}…{value[-4:]}"
    assert isinstance(key["stored"], bool)

    code, listed = await keys_api("GET", "api/v1/api-keys")
    assert [k["name"] for k in listed["data"]] == ["ci"]
    code, details = await keys_api("GET", "api/v1/api-keys", key["id"])
    assert code == 200
    for answer in (listed, details):
        assert value not in str(answer)
        assert "value" not in str(answer["data"]).replace("'hint'", "")


async def test_details_fields(keys_api):
    _, created = await keys_api(
        "POST", "api/v1/api-keys", body={"name": "reader", "scopes": ["devices:read"]}
    )
    _, details = await keys_api("GET", "api/v1/api-keys", created["data"]["id"])
    key = details["data"]
    assert key["name"] == "reader"
    assert key["scopes"] == ["devices:read"]
    assert key["status"] == "active"
    assert key["createdAt"].endswith("Z")
    assert key["rotatedAt"] is None and key["lastUsedAt"] is None
    assert key["usage"]["total"] == 0
    assert len(key["usage"]["daily"]) == 30
    assert "stored" in key


async def test_default_scopes_are_read_only(keys_api):
    _, scopes = await keys_api("GET", "api/v1/api-key-scopes")
    assert {s["name"]: (s["default"], s["spendsCredits"]) for s in scopes["data"]} == {
        "devices:read": (True, False),
        "jobs:read": (True, False),
        "jobs:write": (False, True),
        "credits:read": (True, False),
    }
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "reader"})
    assert created["data"]["scopes"] == ["devices:read", "jobs:read", "credits:read"]


async def test_rotate_invalidates_old_value_at_once(keys_api, extension):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    old = created["data"]
    assert (await verify(extension, old["value"]))["apiKey"]["name"] == "ci"

    code, rotated = await keys_api("POST", "api/v1/api-keys", old["id"], "rotate")
    assert code == 200
    new = rotated["data"]
    assert (new["id"], new["name"], new["scopes"]) == (old["id"], old["name"], old["scopes"])
    assert new["value"] != old["value"] and new["rotatedAt"]

    rejected = await verify(extension, old["value"])
    assert isinstance(rejected, KeyApiError) and rejected.code == "INVALID_API_KEY"
    assert (await verify(extension, new["value"]))["apiKey"]["id"] == old["id"]


async def test_revoke_is_permanent(keys_api, extension):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "gone"})
    key = created["data"]
    code, deleted = await keys_api("DELETE", "api/v1/api-keys", key["id"])
    assert code == 200
    assert (deleted["data"]["id"], deleted["data"]["deleted"]) == (key["id"], True)

    code, again = await keys_api("GET", "api/v1/api-keys", key["id"])
    assert code == 404 and again["error"]["code"] == "NOT_FOUND"
    assert (await keys_api("GET", "api/v1/api-keys"))[1]["data"] == []
    rejected = await verify(extension, key["value"])
    assert isinstance(rejected, KeyApiError) and rejected.status == 401
    code, _ = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert code == 404


async def test_inactive_key_is_rejected_until_reactivated(keys_api, extension):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "paused"})
    key = created["data"]
    code, patched = await keys_api(
        "PATCH", "api/v1/api-keys", key["id"], body={"status": "inactive"}
    )
    assert code == 200 and patched["data"]["status"] == "inactive"
    rejected = await verify(extension, key["value"])
    assert isinstance(rejected, KeyApiError) and rejected.code == "API_KEY_INACTIVE"

    await keys_api("PATCH", "api/v1/api-keys", key["id"], body={"status": "active"})
    assert (await verify(extension, key["value"]))["apiKey"]["name"] == "paused"


async def test_usage_is_counted_after_verifies(keys_api, extension):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "busy"})
    key = created["data"]
    for _ in range(3):
        await verify(extension, key["value"])
    _, details = await keys_api("GET", "api/v1/api-keys", key["id"])
    usage = details["data"]["usage"]
    assert usage["total"] == 3
    assert usage["daily"][-1]["count"] == 3
    assert details["data"]["lastUsedAt"] is not None


async def test_rename(keys_api):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "old"})
    code, patched = await keys_api(
        "PATCH", "api/v1/api-keys", created["data"]["id"], body={"name": "  new  "}
    )
    assert code == 200 and patched["data"]["name"] == "new"


BAD_CREATES = [
    ({"name": ""}, 400, "VALIDATION_ERROR"),
    ({"name": "x" * 65}, 400, "VALIDATION_ERROR"),
    ({"name": "tab\there"}, 400, "VALIDATION_ERROR"),
    ({"name": 42}, 400, "VALIDATION_ERROR"),
    ({"name": "s", "scopes": ["root:all"]}, 400, "VALIDATION_ERROR"),
    ({"name": "s", "scopes": "jobs:read"}, 400, "VALIDATION_ERROR"),
    ({"name": "s", "store": "yes"}, 400, "VALIDATION_ERROR"),
    ({}, 400, "VALIDATION_ERROR"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_CREATES)
async def test_bad_create_is_refused_and_writes_nothing(keys_api, body, status, code):
    got, answer = await keys_api("POST", "api/v1/api-keys", body=body)
    assert (got, answer["success"], answer["error"]["code"]) == (status, False, code)
    assert answer["message"]
    assert (await keys_api("GET", "api/v1/api-keys"))[1]["data"] == []


async def test_unknown_scope_error_names_the_valid_ones(keys_api):
    _, answer = await keys_api("POST", "api/v1/api-keys", body={"name": "s", "scopes": ["nope"]})
    assert "jobs:write" in answer["message"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{not json", 400),
        (b'["name", "ci"]', 400),
        (b'"ci"', 400),
        (b'{"name": "big", "pad": "' + b"x" * (65 * 1024) + b'"}', 413),
    ],
)
async def test_malformed_bodies(keys_api, raw, status):
    got, answer = await keys_api("POST", "api/v1/api-keys", raw=raw)
    assert got == status and answer["success"] is False and answer["message"]
    assert (await keys_api("GET", "api/v1/api-keys"))[1]["data"] == []


async def test_duplicate_name_is_409(keys_api):
    await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    code, answer = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    assert code == 409 and answer["error"]["code"] == "NAME_TAKEN"
    assert len((await keys_api("GET", "api/v1/api-keys"))[1]["data"]) == 1


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_id_is_404(keys_api, method):
    body = {"status": "inactive"} if method == "PATCH" else None
    code, answer = await keys_api(method, "api/v1/api-keys", "key_0000000000000000", body=body)
    assert code == 404 and answer["error"]["code"] == "NOT_FOUND"


async def test_bad_patch(keys_api):
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "p"})
    key_id = created["data"]["id"]
    for body in ({"status": "paused"}, {"name": ""}, {"scopes": ["jobs:read"]}, {"name": None}):
        code, answer = await keys_api("PATCH", "api/v1/api-keys", key_id, body=body)
        assert (code, answer["success"]) == (400, False), body
    code, answer = await keys_api("PATCH", "api/v1/api-keys", key_id, raw=b"")
    assert (code, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    _, details = await keys_api("GET", "api/v1/api-keys", key_id)
    assert details["data"]["name"] == "p" and details["data"]["status"] == "active"


async def test_unknown_route_is_a_json_404(keys_api):
    code, answer = await keys_api("GET", "api/v1/nothing-here")
    assert code == 404 and answer["success"] is False


async def test_routes_need_the_servers_credentials(jp_fetch, keys_api):
    from tornado.httpclient import HTTPClientError

    for method, path in [
        ("GET", "api/v1/api-keys"),
        ("POST", "api/v1/api-keys"),
        ("GET", "status"),
    ]:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(
                "qbraid-keys",
                path,
                method=method,
                body=b'{"name": "x"}' if method == "POST" else None,
                headers={"Authorization": ""},
            )
        assert info.value.code in (401, 403)
    assert (await keys_api("GET", "api/v1/api-keys"))[1]["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", ("api/v1/api-keys",), "GET, POST"),
        ("DELETE", ("api/v1/api-keys", "key_0000000000000000", "rotate"), "POST"),
        ("PUT", ("api/v1/api-keys", "key_0000000000000000"), "GET, PATCH, DELETE"),
        ("POST", ("api/v1/api-key-scopes",), "GET"),
        ("DELETE", ("status",), "GET"),
    ],
)
async def test_405_says_which_methods_the_route_takes(jp_fetch, method, path, allow):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "qbraid-keys",
            *path,
            method=method,
            body=b"{}" if method in ("POST", "PUT") else None,
            allow_nonstandard_methods=True,
        )
    response = info.value.response
    assert (response.code, response.headers["Allow"]) == (405, allow)
    assert json.loads(response.body)["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_unknown_field_error_lists_every_field_the_route_takes(keys_api):
    body = {"name": "x", "store": True, "expires": "never"}
    code, answer = await keys_api("POST", "api/v1/api-keys", body=body)
    assert code == 400
    assert answer["message"] == "Unknown field 'expires'; allowed fields are: name, scopes, store."
    assert answer["error"] == {
        "code": "VALIDATION_ERROR",
        "allowedFields": ["name", "scopes", "store"],
    }
    _, created = await keys_api("POST", "api/v1/api-keys", body={"name": "x"})
    code, answer = await keys_api(
        "PATCH", "api/v1/api-keys", created["data"]["id"], body={"store": False}
    )
    assert code == 400
    assert answer["message"] == "Unknown field 'store'; allowed fields are: name, status."


class TestDatabaseUrl:
    """A db_path that is a database URL is refused, not made into a file named after it."""

    @pytest.fixture
    def upstream_config(self):
        return {"db_path": "mysql://keys:hunter2@db.example/keys"}

    async def test_routes_say_so(self, keys_api, jp_serverapp):
        code, answer = await keys_api("GET", "api/v1/api-keys")
        assert (code, answer["error"]["code"]) == (502, "UPSTREAM_UNAVAILABLE")
        assert answer["message"] == (
            "c.QbraidKeys.db_path: mysql:// databases are not supported; give the path of a "
            "SQLite file."
        )
        assert not (Path(jp_serverapp.root_dir) / "mysql:").exists()
        assert not Path("mysql:").exists()
