"""Pages of keys (issue 13): `GET api-keys?limit=&cursor=&name=&q=` on the key service and
through the Jupyter route; stable order while keys come and go; search; name lookup."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from qbraid_keys_ext import listing
from qbraid_keys_ext.service import KeyService, KeyStore
from qbraid_keys_ext.service.store import ACCOUNT

from .bulk import create_many

TOKEN = "pages-account-token"


def seed(store: KeyStore, count: int, prefix: str = "k") -> list[dict[str, Any]]:
    """`count` keys made by the store's own `create`, in one transaction (fast)."""
    made = create_many(store, (f"{prefix}{i:05d}" for i in range(count)))
    return [{k: v for k, v in key.items() if k != "value"} for key in made]


async def seed_service(service: KeyService, count: int, prefix: str = "k") -> list[dict[str, Any]]:
    """`count` keys in the service's store: at once on SQLite, one by one on PostgreSQL."""
    if isinstance(service.store, KeyStore):
        return seed(service.store, count, prefix)
    keys = service.backend.account(ACCOUNT)
    made = [await keys.create({"name": f"{prefix}{i:05d}"}) for i in range(count)]
    return [{k: v for k, v in key.items() if k != "value"} for key in made]


@pytest.fixture
def service(start_service, store_db):
    """A key service on SQLite, and one on PostgreSQL: paging is the same on both."""
    return start_service(TOKEN, db=store_db, flush_interval=3600)


@pytest.fixture
def api(service):
    async def call(method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        response = await AsyncHTTPClient().fetch(
            f"{service.url}/api/v1{path}",
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Access-Token": TOKEN},
            raise_error=False,
        )
        return response.code, json.loads(response.body)

    return call


async def walk(api, limit: int, query: str = "", between=None) -> list[dict[str, Any]]:
    """Every page from the first to the last; `between()` runs after each page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/api-keys?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        status, answer = await api("GET", path)
        assert status == 200, answer
        assert set(answer) == {"success", "data", "page"}
        assert len(answer["data"]) <= limit
        seen += answer["data"]
        cursor = answer["page"]["next"]
        if cursor is None:
            return seen
        if between is not None:
            await between()


# -- the key service -------------------------------------------------------------------------


async def test_pages_cover_every_key_once_newest_first(api, service):
    await seed_service(service, 230)
    _, everything = await api("GET", "/api-keys")
    assert "page" not in everything  # without page arguments: as before, every full object
    assert len(everything["data"]) == 230 and "daily" in everything["data"][0]["usage"]

    seen = await walk(api, 37)
    assert [k["id"] for k in seen] == [k["id"] for k in everything["data"]]
    item = seen[0]
    assert set(item) == set(everything["data"][0])
    assert item["usage"] == {"total": 0, "last30Days": 0}

    _, first = await api("GET", "/api-keys?limit=5")
    assert first["page"]["total"] == 230 and first["page"]["next"]
    _, one = await api("GET", "/api-keys?cursor=" + first["page"]["next"])  # default limit 50
    assert len(one["data"]) == 50 and one["data"][0]["id"] == everything["data"][5]["id"]


async def test_order_is_stable_while_keys_are_created_and_revoked(api, service):
    """Keys that exist from the first page to the last are each seen exactly once."""
    initial = await seed_service(service, 400)
    rng = random.Random(13)
    alive = {k["id"] for k in initial}
    revoked: set[str] = set()
    made = 0

    async def churn() -> None:
        nonlocal made
        for _ in range(3):  # new keys (they come first: newest first)
            made += 1
            status, _ = await api("POST", "/api-keys", {"name": f"during-{made}"})
            assert status == 201
        for key_id in rng.sample(sorted(alive), 4):  # seen, on the next page, or later
            status, _ = await api("DELETE", f"/api-keys/{key_id}")
            assert status == 200
            alive.discard(key_id)
            revoked.add(key_id)

    seen = await walk(api, 25, between=churn)
    ids = [k["id"] for k in seen]
    assert len(ids) == len(set(ids)), "a key was seen twice"
    assert alive <= set(ids), "a key that existed throughout was skipped"
    assert not {k["name"] for k in seen if k["name"].startswith("during-")}
    created = [k["createdAt"] for k in seen]
    assert created == sorted(created, reverse=True)
    assert revoked  # the churn did happen


def test_store_pages_with_ties_and_a_reused_rowid(tmp_path):
    """Same-second keys are ordered by insertion; a cursor survives its key's revocation."""
    moments = iter(
        datetime(2026, 11, 27, tzinfo=timezone.utc) + timedelta(seconds=i // 7)
        for i in range(10_000)
    )
    store = KeyStore(tmp_path / "keys.sqlite3", clock=lambda: next(moments))
    keys = seed(store, 40)
    order = [k["id"] for k in reversed(keys)]
    page, cursor, total = store.list_page(10)
    assert [k["id"] for k in page] == order[:10] and total == 40
    store.delete(page[-1]["id"])  # the key the cursor points after
    store.delete(order[0])  # the newest: its rowid is taken by the next key
    store.create({"name": "newer"})
    rest = []
    while cursor:
        page, cursor, _ = store.list_page(10, cursor)
        rest += [k["id"] for k in page]
    assert rest == order[10:]
    store.close()


async def test_name_finds_one_key_regardless_of_case(api, service):
    await seed_service(service, 300)
    status, _ = await api("POST", "/api-keys", {"name": "CI-Main"})
    assert status == 201
    for asked in ("CI-Main", "ci-main", "  CI-MAIN "):
        _, found = await api("GET", f"/api-keys?name={asked.replace(' ', '%20')}")
        assert [k["name"] for k in found["data"]] == ["CI-Main"]
        assert found["page"] == {"next": None, "total": 1}
    _, none = await api("GET", "/api-keys?name=nope&limit=3")
    assert none["data"] == [] and none["page"] == {"next": None, "total": 0}


async def test_q_searches_names_and_hints(api, service):
    keys = await seed_service(service, 120)
    _, found = await api("GET", "/api-keys?q=K0011&limit=200")  # k00110 … k00119
    assert sorted(k["name"] for k in found["data"]) == [f"k{i:05d}" for i in range(110, 120)]
    assert found["page"]["total"] == 10
    hint = keys[7]["hint"]
    _, by_hint = await api("GET", f"/api-keys?q={hint[-4:]}")
    assert keys[7]["id"] in {k["id"] for k in by_hint["data"]}
    _, paged = await walk_q(api, "k000")
    assert sorted(k["name"] for k in paged) == [f"k{i:05d}" for i in range(100)]


async def walk_q(api, text: str) -> tuple[int, list[dict[str, Any]]]:
    seen = await walk(api, 30, f"&q={text}")
    return len(seen), seen


async def test_list_items_carry_usage_totals(api, service):
    _, created = await api("POST", "/api-keys", {"name": "used"})
    value = created["data"]["value"]
    for _ in range(3):
        await service.backend.verify(value)
    _, page = await api("GET", "/api-keys?limit=1")
    assert page["data"][0]["usage"] == {"total": 3, "last30Days": 3}  # counted, not yet flushed
    await service.flush()
    await service.backend.verify(value)
    _, page = await api("GET", "/api-keys?limit=1")
    assert page["data"][0]["usage"] == {"total": 4, "last30Days": 4}
    assert page["data"][0]["lastUsedAt"]
    _, details = await api("GET", f"/api-keys/{created['data']['id']}")
    assert details["data"]["usage"]["total"] == 4 and len(details["data"]["usage"]["daily"]) == 30


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=x", "limit=", "cursor=e5", "cursor=zz", "cursor=k1-1",
     "cursor=k20261127050000-99999999999999999999"],
)  # fmt: skip
async def test_bad_page_arguments_are_400(api, query):
    status, answer = await api("GET", f"/api-keys?{query}")
    assert status == 400 and answer["error"]["code"] == "VALIDATION_ERROR", answer


# -- through the Jupyter route ---------------------------------------------------------------


@pytest.fixture
def extension(jp_serverapp):
    return next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))


async def test_jupyter_route_pages_with_stored(keys_api, extension):
    await extension.ensure_upstream()
    seed(extension.embedded.store, 120, "bulk")
    status, _ = await keys_api("POST", "api/v1/api-keys", body={"name": "mine"})
    assert status == 201
    status, page = await keys_api("GET", "api/v1/api-keys", params={"limit": "10"})
    assert status == 200 and set(page) == {"success", "data", "page"}
    assert page["page"]["total"] == 121 and page["page"]["next"]
    assert page["data"][0]["name"] == "mine" and page["data"][0]["stored"] is True
    assert all(k["stored"] is False for k in page["data"][1:])
    assert all("daily" not in k["usage"] for k in page["data"])

    _, found = await keys_api("GET", "api/v1/api-keys", params={"name": "MINE"})
    assert [(k["name"], k["stored"]) for k in found["data"]] == [("mine", True)]
    _, searched = await keys_api("GET", "api/v1/api-keys", params={"q": "bulk0010", "limit": "5"})
    assert searched["page"]["total"] == 10 and len(searched["data"]) == 5
    status, bad = await keys_api("GET", "api/v1/api-keys", params={"cursor": "nope"})
    assert status == 400 and bad["error"]["code"] == "VALIDATION_ERROR"

    _, everything = await keys_api("GET", "api/v1/api-keys")
    assert "page" not in everything and len(everything["data"]) == 121
    assert everything["data"][0]["stored"] is True and "daily" in everything["data"][0]["usage"]


# -- the proxy's list text ---------------------------------------------------------------------


def test_listing_adds_stored_to_the_upstreams_text():
    raw = b'{"success": true, "data": [{"id": "a", "n": {"x": [1]}}, {}, {"id": "b", "stored": 1}]}'
    answer = listing.parse(raw)
    assert answer is not None and [k.get("id") for k in answer.keys] == ["a", None, "b"]
    out = json.loads(answer.with_stored({"a"}))
    assert out == {
        "success": True,
        "data": [
            {"id": "a", "n": {"x": [1]}, "stored": True},
            {"stored": False},
            {"id": "b", "stored": False},  # ours is written last: it wins
        ],
    }
    paged = b'{"success":true,"data":[],"page":{"next":null,"total":0}}'
    assert json.loads(listing.parse(paged).with_stored(set())) == json.loads(paged)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data": [], "success": true}',
        b'{"success": true, "data": [1, 2]}',
        b'{"success": true, "data": [{"id": "a"} {"id": "b"}]}',
        b'{"success": true, "data": [{"id": "a"}], "extra": 1}',
        b'{"success": true, "data": [{"id": "a"}]} trailing',
        b'{"success": true, "data": [{"id": "a"',
        b'{"success": true, "data": [], "page": {"next": nul}}',
        b"\xff\xfe",
    ],
)
def test_listing_leaves_other_shapes_to_a_full_decode(raw):
    assert listing.parse(raw) is None


def test_total_follows_changes_by_this_and_other_connections(tmp_path):
    """The account's count is kept between pages, and counted again after any change."""
    path = tmp_path / "keys.sqlite3"
    ours, other = KeyStore(path), KeyStore(path)
    seed(ours, 5)
    assert ours.list_page(2)[2] == 5
    made = ours.create({"name": "mine"})
    assert ours.list_page(2)[2] == 6
    seed(other, 3, "other")  # another process on the same database
    assert ours.list_page(2)[2] == 9
    ours.delete(made["id"])
    assert ours.list_page(2)[2] == 8
    other.delete(other.list_page(1)[0][0]["id"])
    assert ours.list_page(2)[2] == 7
    assert ours.list_page(2, q="other")[2] == 2
    ours.close()
    other.close()
