"""The keyring's name index (vault.py): how a value is found by name with no server.

Written when a value is stored with its name (the Lab's create, rotate and add, and
`qbraid-keys`), dropped with the value, brought in line by key listings (renames, values stored
before the index existed); names, ids and hints only. On our file backend and a real Secret
Service, and through the Jupyter server's routes.
"""

from __future__ import annotations

import threading

import pytest

from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.vault import INDEX_SERVICE, FileKeyring, Vault

from .keyring_env import keyring_backend  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    """The conftest server, with the keyring variant set up before it starts."""
    return jp_server_config


def raw_index(vault: Vault) -> str:
    return vault.backend.get_password(INDEX_SERVICE, vault.namespace) or ""


def test_store_find_reindex_delete(keyring_backend):  # noqa: F811
    vault = Vault("keys.example.org")
    one, two = keyformat.generate(), keyformat.generate()
    vault.store("key_1", one, "ci")
    assert vault.named("ci") == ("key_1", vault.names()["key_1"])
    assert vault.names()["key_1"]["hint"] == keyformat.hint(one)
    assert vault.named("CI")[0] == "key_1"  # names are unique regardless of case
    assert vault.named("other") is None
    vault.store("key_2", two, "CI")
    assert vault.named("CI")[0] == "key_2" and vault.named("ci")[0] == "key_1"  # exact first
    assert Vault("elsewhere.example.org").named("ci") is None  # per upstream host
    for value in (one, two):
        assert value not in raw_index(vault) and value[4:24] not in raw_index(vault)

    listing = [{"id": "key_1", "name": "renamed", "hint": keyformat.hint(one)}]
    vault.reindex(listing, {"key_1"})
    assert vault.named("renamed")[0] == "key_1" and vault.named("ci")[0] == "key_2"
    vault.reindex([{"id": "key_2", "name": "CI"}], set())  # listed, but not held here
    assert vault.named("CI") is None
    vault.reindex([], set())  # not listed: left alone
    assert vault.named("renamed")[0] == "key_1"

    vault.store("key_3", one)  # stored without a name (as before the index): not found...
    assert vault.named("old") is None
    vault.reindex([{"id": "key_3", "name": "old", "hint": "h"}], {"key_3"})  # ...until listed
    assert vault.named("old")[0] == "key_3"
    vault.delete("key_1")
    assert vault.named("renamed") is None and vault.fetch("key_1") is None


def test_damaged_index_is_rebuilt(keyring_backend):  # noqa: F811
    vault = Vault("keys.example.org")
    vault.backend.set_password(INDEX_SERVICE, vault.namespace, "{not json")
    assert vault.names() == {}
    vault.store("key_1", keyformat.generate(), "ci")
    assert vault.named("ci")[0] == "key_1"


def test_concurrent_stores_keep_every_name(tmp_path):
    """Read-modify-write of the index is serialised (a lock shared with other processes)."""
    vault = Vault("keys.example.org", FileKeyring(tmp_path / "keyring" / "keyring.json"))
    threads = [
        threading.Thread(target=vault.store, args=(f"key_{i}", keyformat.generate(), f"k{i}"))
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["name"] for r in vault.names().values()) == sorted(f"k{i}" for i in range(16))


async def test_routes_keep_the_index(jp_serverapp, keys_api):
    vault = Vault("embedded")
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    assert code == 201
    key = created["data"]
    assert vault.named("ci")[0] == key["id"]

    code, _ = await keys_api("PATCH", "api/v1/api-keys", key["id"], body={"name": "ci-2"})
    assert code == 200 and vault.named("ci-2")[0] == key["id"] and vault.named("ci") is None

    code, other = await keys_api("POST", "api/v1/api-keys", body={"name": "other", "store": False})
    assert code == 201 and vault.named("other") is None
    vault.store(other["data"]["id"], other["data"]["value"])  # a value stored with no name
    await keys_api("GET", "api/v1/api-keys")  # a listing (the sidebar) records its name
    assert vault.named("other")[0] == other["data"]["id"]

    code, rotated = await keys_api(
        "POST", "api/v1/api-keys", key["id"], "rotate", body={"store": False}
    )
    assert code == 200 and rotated["data"]["stored"] is False and rotated["data"]["value"]
    assert vault.fetch(key["id"]) is None and vault.named("ci-2") is None  # the old value is dead
    code, rotated = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert code == 200 and rotated["data"]["stored"] is True
    assert vault.named("ci-2") == (key["id"], vault.names()[key["id"]])
    assert vault.names()[key["id"]]["hint"] == rotated["data"]["hint"]
    code, answer = await keys_api(
        "POST", "api/v1/api-keys", key["id"], "rotate", body={"store": "no"}
    )
    assert code == 400 and answer["error"]["code"] == "VALIDATION_ERROR"

    code, _ = await keys_api("DELETE", "api/v1/api-keys", key["id"])
    assert code == 200 and vault.named("ci-2") is None
