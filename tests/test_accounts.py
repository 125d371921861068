"""Accounts in the store, on SQLite and on PostgreSQL alike: nothing crosses accounts.

Every key, use and event belongs to one account; another account's key id is NOT_FOUND for
every change, and a value verifies as the account that owns it.
"""

from __future__ import annotations

import json

import pytest

from qbraid_keys_ext.service.accounts import (
    LOCAL_IDENTITY,
    Authenticator,
    hub_account,
    identity,
)
from qbraid_keys_ext.service.app import verified_answer
from qbraid_keys_ext.service.backends import open_backend
from qbraid_keys_ext.service.ratelimit import FailureLimiter
from qbraid_keys_ext.service.store import KeyServiceError

ALICE, BOB = hub_account("alice"), hub_account("bob")


@pytest.fixture
def backend(store_db, jp_asyncio_loop):
    opened = jp_asyncio_loop.run_until_complete(
        open_backend(store_db, write_through=False, limiter=FailureLimiter())
    )
    yield opened
    jp_asyncio_loop.run_until_complete(opened.close())


async def refused(call) -> str:
    with pytest.raises(KeyServiceError) as caught:
        await call
    return caught.value.code


async def test_another_accounts_key_is_not_found_for_every_change(backend):
    alice, bob = backend.account(ALICE), backend.account(BOB)
    key = await alice.create({"name": "ci", "scopes": ["jobs:read"]})
    theirs = await bob.create({"name": "CI"})  # names are unique per account only
    assert [k["id"] for k in await alice.list_keys()] == [key["id"]]
    assert [k["id"] for k in await bob.list_keys()] == [theirs["id"]]

    assert await refused(bob.get(key["id"])) == "NOT_FOUND"
    assert await refused(bob.update(key["id"], {"status": "inactive"})) == "NOT_FOUND"
    assert await refused(bob.update(key["id"], {"name": "mine"})) == "NOT_FOUND"
    assert await refused(bob.rotate(key["id"])) == "NOT_FOUND"
    assert await refused(bob.delete(key["id"])) == "NOT_FOUND"

    still = await alice.get(key["id"])
    assert (still["name"], still["status"], still["hint"]) == ("ci", "active", key["hint"])
    found = await backend.verify(key["value"], ["jobs:read"])
    assert (found.id, found.account) == (key["id"], ALICE)
    assert (await backend.verify(theirs["value"])).account == BOB


async def test_events_and_usage_belong_to_their_account(backend):
    alice, bob = backend.account(ALICE), backend.account(BOB)
    key = await alice.create({"name": "ci"})
    await alice.rotate(key["id"], actor="alice")
    other = await bob.create({"name": "other"})
    for _ in range(3):
        await backend.verify(other["value"])
    await backend.flush()
    await backend.verify(other["value"])  # one more, still in memory

    events, _, total = await alice.list_events()
    assert total == 2 and [e["action"] for e in events] == ["rotated", "created"]
    assert {e["keyId"] for e in events} == {key["id"]}
    events, _, total = await bob.list_events(key["id"])  # asking for alice's key by id
    assert (events, total) == ([], 0)
    assert (await bob.get(other["id"]))["usage"]["total"] == 4
    assert (await alice.get(key["id"]))["usage"]["total"] == 0

    await alice.delete(key["id"])
    events, _, _ = await alice.list_events(key["id"])
    assert events[0]["action"] == "revoked"
    assert (await backend.account(BOB).get(other["id"]))["usage"]["total"] == 4


async def test_the_local_account_is_the_default_one(backend):
    local = backend.account("local")
    key = await local.create({"name": "ci"})
    assert (await backend.verify(key["value"])).account == "local"
    assert await backend.account(ALICE).list_keys() == []


def test_verify_names_the_owner():
    assert identity("local") == LOCAL_IDENTITY
    alice = identity(ALICE)
    assert alice["userId"] == "alice" and alice["organizationUserId"] == ALICE
    assert identity(hub_account("a@example.org"))["email"] == "a@example.org"
    answer = json.loads(verified_answer("key_1", "ci", ("jobs:read",), ALICE))
    assert answer["data"]["userId"] == "alice"
    assert answer["data"]["apiKey"] == {"id": "key_1", "name": "ci", "scopes": ["jobs:read"]}


class FakeHubAuth:
    """Stands in for JupyterHub's HubAuth: tokens of known users, or the Hub down."""

    access_scopes = frozenset({"access:services!service=qbraid-keys"})

    def __init__(self, users: dict[str, dict] | None = None, down: bool = False) -> None:
        self.users = users or {}
        self.down = down

    async def user_for_token(self, token: str, sync: bool = True):
        if self.down:
            raise ConnectionRefusedError("the Hub is down")
        return self.users.get(token)

    def check_scopes(self, required, user):
        return set(required) & set(user["scopes"])


async def test_hub_tokens_map_to_their_users_accounts():
    scopes = ["access:services!service=qbraid-keys"]
    auth = Authenticator(
        hub_auth=FakeHubAuth(
            {
                "a": {"kind": "user", "name": "alice", "scopes": scopes},
                "s": {"kind": "service", "name": "cull", "scopes": scopes},
                "n": {"kind": "user", "name": "nobody", "scopes": ["self"]},
            }
        )
    )
    assert await auth.account({"Authorization": "token a"}) == ALICE
    assert await auth.account({"Authorization": "Bearer a"}) == ALICE
    for refused in ("token s", "token n", "token x", "basic a", ""):
        assert await auth.account({"Authorization": refused}) is None
    assert await auth.account({"X-Access-Token": "a"}) is None  # no account token here
    assert "JupyterHub API token" in auth.missing

    down = Authenticator(hub_auth=FakeHubAuth(down=True))
    with pytest.raises(KeyServiceError) as caught:
        await down.account({"Authorization": "token a"})
    assert (caught.value.status, caught.value.code) == (502, "UPSTREAM_UNAVAILABLE")


async def test_migrations_are_recorded_and_a_newer_schema_is_refused(pg_url):
    import psycopg

    from qbraid_keys_ext.service.pgstore import MIGRATIONS, PgKeyStore

    for _ in range(2):  # the second start finds everything applied
        store = PgKeyStore(pg_url)
        await store.open()
        await store.close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
        assert versions == [v for v, _, _ in MIGRATIONS]
        db.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(RuntimeError, match="newer qbraid-keys-ext"):
        await PgKeyStore(pg_url).open()


async def test_events_page_by_cursor_and_names_fold_case_on_both_stores(backend):
    alice = backend.account(ALICE)
    key = await alice.create({"name": "Ci"}, actor="alice")
    await alice.update(key["id"], {"status": "inactive"}, actor="alice")
    await alice.update(key["id"], {"name": "ci-renamed"}, actor="alice")
    seen, cursor = [], None
    while True:
        page, cursor, total = await alice.list_events(limit=1, cursor=cursor)
        seen += [(e["action"], e["actor"]) for e in page]
        if cursor is None:
            break
        assert cursor.startswith("e") and cursor[1:].isdigit()
    assert total == 3
    assert seen == [("renamed", "alice"), ("deactivated", "alice"), ("created", "alice")]
    other = await alice.create({"name": "other"})
    assert await refused(alice.create({"name": "CI-RENAMED"})) == "NAME_TAKEN"
    assert await refused(alice.update(other["id"], {"name": "Ci-Renamed"})) == "NAME_TAKEN"
    await backend.account(BOB).create({"name": "CI-renamed"})  # another account's names
