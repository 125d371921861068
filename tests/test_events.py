"""Key changes on the event bus (Contract 4) and the key service's audit trail (Contract 1)."""

from __future__ import annotations

import asyncio
import json

import pytest

from qbraid_keys_ext.extension import EVENT_SCHEMA_ID
from qbraid_keys_ext.service import KeyStore

from .kernel_helpers import KernelSession
from .keyring_env import keyring_backend  # noqa: F401  (fixture)
from .test_magic import create

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    return jp_server_config


async def next_events(ws, count: int) -> list[dict]:
    """The next `count` key events read from `api/events/subscribe`, as a browser gets them."""
    found = []
    while len(found) < count:
        message = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        if message.get("schema_id") == EVENT_SCHEMA_ID:
            found.append(message)
    return found


async def test_every_change_and_kernel_use_is_on_the_event_stream(
    jp_serverapp, jp_ws_fetch, keys_api
):
    ws = await jp_ws_fetch("api", "events", "subscribe")
    key = await create(keys_api, "ci")
    value = key["value"]
    path = ("api/v1/api-keys", key["id"])
    assert (await keys_api("POST", *path, "rotate"))[0] == 200
    assert (await keys_api("PATCH", *path, body={"name": "ci-2"}))[0] == 200
    assert (await keys_api("PATCH", *path, body={"status": "inactive"}))[0] == 200
    assert (await keys_api("PATCH", *path, body={"status": "active"}))[0] == 200
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci-2")
        assert run.ok, run.error_text
        run = await kernel.execute("%qbraid_key clear")
        assert run.ok, run.error_text
        kernel_id = kernel.kernel_id
    assert (await keys_api("DELETE", *path))[0] == 200

    events = await next_events(ws, 8)
    ws.close()
    assert [e["action"] for e in events] == [
        "created",
        "rotated",
        "renamed",
        "deactivated",
        "activated",
        "used",
        "cleared",
        "revoked",
    ]
    assert {e["keyId"] for e in events} == {key["id"]}
    assert events[0]["keyName"] == "ci" and events[2]["keyName"] == "ci-2"
    assert events[5]["kernelId"] == kernel_id == events[6]["kernelId"]
    assert "kernelId" not in events[0]
    text = json.dumps(events)
    assert value not in text and "qbr_" + "0" * 8 not in text
    assert all(e["hint"].startswith("qbr_") and "…" in e["hint"] for e in events)


async def test_kernels_route_names_the_notebook_that_uses_a_key(jp_serverapp, keys_api):
    key = await create(keys_api, "ci")
    session_manager = jp_serverapp.session_manager
    async with KernelSession(jp_serverapp) as kernel:
        await session_manager.create_session(
            path="work/analysis.ipynb", kernel_id=kernel.kernel_id, type="notebook"
        )
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci")
        assert run.ok, run.error_text
        code, answer = await keys_api("GET", "kernels")
        assert code == 200
        assert answer["data"] == [
            {
                "kernelId": kernel.kernel_id,
                "path": "work/analysis.ipynb",
                "keyId": key["id"],
                "keyName": "ci",
                "hint": key["hint"],
            }
        ]
        code, answer = await keys_api("PUT", "kernels", "no-such-kernel", body={"keyId": key["id"]})
        assert code == 404
    code, answer = await keys_api("GET", "kernels")
    assert answer["data"] == []  # the kernel stopped


async def test_the_audit_trail_lists_a_revoked_keys_whole_life(jp_serverapp, keys_api):
    key = await create(keys_api, "ci")
    path = ("api/v1/api-keys", key["id"])
    await keys_api("POST", *path, "rotate")
    await keys_api("PATCH", *path, body={"status": "inactive"})
    await keys_api("PATCH", *path, body={"status": "inactive"})  # no change, no event
    await keys_api("PATCH", *path, body={"status": "active", "name": "deploy"})
    await keys_api("DELETE", *path)
    other = await create(keys_api, "other")

    code, answer = await keys_api("GET", "api/v1/events", params={"keyId": key["id"]})
    assert code == 200
    trail = answer["data"]
    assert [e["action"] for e in trail] == [
        "revoked",
        "activated",
        "renamed",
        "deactivated",
        "rotated",
        "created",
    ]
    assert answer["page"] == {"next": None, "total": 6}
    assert trail[0]["keyName"] == "deploy" and trail[-1]["keyName"] == "ci"
    assert trail[-1]["hint"] == key["hint"] and trail[-2]["hint"] != key["hint"]
    assert all(e["actor"].endswith("(Jupyter server)") for e in trail)
    assert all(e["at"].endswith("Z") and e["id"].startswith("evt_") for e in trail)
    assert (await keys_api("GET", *path))[0] == 404  # the key is gone, its trail is not

    # Paged, newest first, across keys; the same after a restart of the service.
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        code, answer = await keys_api("GET", "api/v1/events", params=params)
        assert code == 200 and len(answer["data"]) <= 3
        seen += answer["data"]
        cursor = answer["page"]["next"]
        if cursor is None:
            break
    assert len(seen) == 7 == answer["page"]["total"]
    assert seen[0]["keyId"] == other["id"] and seen[0]["action"] == "created"
    assert len({e["id"] for e in seen}) == 7

    ext = jp_serverapp.web_app.settings["qbraid_keys"]
    db = ext.embedded.db_path
    await ext.stop_extension()  # the server stops; the database stays
    store = KeyStore(db)
    events, _, total = store.list_events(key["id"])
    store.close()
    assert total == 6 and events[0]["action"] == "revoked"

    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "nope"}):
        code, answer = await keys_api("GET", "api/v1/events", params=bad)
        assert code == 400 and answer["error"]["code"] == "VALIDATION_ERROR", bad
