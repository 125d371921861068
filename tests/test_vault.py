"""The keyring vault: backend choice, our file backend, bounded failures, and the routes' use."""

from __future__ import annotations

import os
import stat
import time

import keyring.backend
import keyring.backends.fail
import pytest

from qbraid_keys_ext import vault as vault_module
from qbraid_keys_ext.vault import SERVICE, FileKeyring, Vault, VaultError, choose_backend, vault_for

from .keyring_env import SecretService, keyring_backend, secret_service_missing  # noqa: F401

pytestmark = pytest.mark.timeout(60)

VALUE = "qbr_" + "ab" * 32  # a format-shaped stand-in; the vault does not check values


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    """The conftest server, with the keyring variant set up before it starts."""
    return jp_server_config


@pytest.fixture
def file_env(monkeypatch, tmp_path):
    """An isolated keyring file, with no system keyring reachable."""
    path = tmp_path / "data" / "qbraid_keys" / "keyring.json"
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(path))
    monkeypatch.delenv("QBRAID_KEYS_KEYRING", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no keyringrc.cfg
    return path


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---- the file backend ------------------------------------------------------------------------


def test_file_backend_round_trip_and_permissions(file_env):
    vault = Vault("embedded", FileKeyring())
    vault.store("key_1", VALUE)
    assert vault.fetch("key_1") == VALUE
    assert vault.fetch("key_2") is None
    assert mode(file_env) == 0o600
    assert mode(file_env.parent) == 0o700
    assert [p.name for p in file_env.parent.iterdir() if p.name.endswith(".tmp")] == []

    vault.store("key_1", VALUE.replace("ab", "cd"))  # rotate replaces
    assert vault.fetch("key_1") == VALUE.replace("ab", "cd")
    vault.delete("key_1")
    vault.delete("key_1")  # deleting twice is fine
    assert vault.fetch("key_1") is None


def test_file_backend_repairs_loose_permissions(file_env):
    vault = Vault("embedded", FileKeyring())
    vault.store("key_1", VALUE)
    os.chmod(file_env, 0o644)
    os.chmod(file_env.parent, 0o755)
    assert vault.fetch("key_1") == VALUE
    assert mode(file_env) == 0o600
    vault.store("key_2", VALUE)
    assert mode(file_env.parent) == 0o700 and mode(file_env) == 0o600


def test_namespaces_keep_keys_apart(file_env):
    a, b = Vault("embedded", FileKeyring()), Vault("api.example.com", FileKeyring())
    a.store("key_1", VALUE)
    assert b.fetch("key_1") is None
    assert FileKeyring().get_password(SERVICE, "embedded/key_1") == VALUE


def test_holds_reads_the_file_once(file_env, monkeypatch):
    vault = Vault("embedded", FileKeyring())
    for i in range(0, 200, 2):
        vault.store(f"key_{i}", VALUE)
    reads = []
    original = FileKeyring._read

    def counting(self):
        reads.append(1)
        return original(self)

    monkeypatch.setattr(FileKeyring, "_read", counting)
    started = time.monotonic()
    held = vault.holds([f"key_{i}" for i in range(1000)])
    assert held == {f"key_{i}" for i in range(0, 200, 2)}
    assert len(reads) == 1
    assert time.monotonic() - started < 1


def test_damaged_file_is_a_clear_error(file_env):
    file_env.parent.mkdir(parents=True)
    file_env.write_text("{not json")
    with pytest.raises(VaultError, match="damaged"):
        Vault("embedded", FileKeyring()).fetch("key_1")


def test_file_backend_is_registered_through_the_entry_point():
    names = {type(b).__module__ + "." + type(b).__name__ for b in keyring.backend.get_all_keyring()}
    assert "qbraid_keys_ext.vault.FileKeyring" in names
    assert 0 < FileKeyring.priority < 1  # below every system keyring


# ---- backend choice --------------------------------------------------------------------------


class FakePlaintext(keyring.backend.KeyringBackend):
    """Stands in for keyrings.alt's plaintext file (priority 0.5); never registered as viable."""

    priority = 0.5
    viable = False

    def get_password(self, service, username):
        raise AssertionError("must not be used")

    def set_password(self, service, username, password):
        raise AssertionError("must not be used")

    def delete_password(self, service, username):
        raise AssertionError("must not be used")


FakePlaintext.__module__ = "keyrings.alt.file"


def test_no_system_keyring_means_our_file_never_keyrings_alt(file_env, monkeypatch):
    monkeypatch.setattr(
        keyring.backend,
        "get_all_keyring",
        lambda: [FakePlaintext(), FileKeyring(), keyring.backends.fail.Keyring()],
    )
    backend = choose_backend()
    assert isinstance(backend, FileKeyring)
    info = Vault("embedded").info()
    assert info["class"] == "qbraid_keys_ext.vault.FileKeyring"
    assert info["secure"] is False and info["path"] == str(file_env)
    assert "0600" in info["description"] and info["namespace"] == "embedded"


def test_explicit_choices(file_env, monkeypatch):
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: [FileKeyring()])
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "file")
    assert isinstance(choose_backend(), FileKeyring)
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "system")
    with pytest.raises(VaultError, match="no system keyring works here"):
        choose_backend()
    assert Vault("embedded").info()["backend"] == "unavailable"
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "no.such.Backend")
    with pytest.raises(VaultError, match="could not be loaded"):
        choose_backend()
    monkeypatch.delenv("QBRAID_KEYS_KEYRING")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    assert type(choose_backend()).__module__ == "keyring.backends.null"


# ---- failures are bounded and clear ------------------------------------------------------------


class Hanging(keyring.backend.KeyringBackend):
    """A keyring that never answers (never viable, so keyring itself never picks it)."""

    priority = 1
    viable = False

    def get_password(self, service, username):
        time.sleep(30)

    def set_password(self, service, username, password):
        time.sleep(30)

    def delete_password(self, service, username):
        time.sleep(30)


class Raising(Hanging):
    def get_password(self, service, username):
        raise RuntimeError("the keyring daemon crashed")

    def set_password(self, service, username, password):
        raise RuntimeError("the keyring daemon crashed")


def test_hanging_keyring_fails_within_the_timeout(monkeypatch):
    monkeypatch.setattr(vault_module, "TIMEOUT", 0.5)
    vault = Vault("embedded", Hanging())
    started = time.monotonic()
    with pytest.raises(VaultError, match="did not answer within"):
        vault.fetch("key_1")
    assert time.monotonic() - started < 2


def test_raising_keyring_is_a_vault_error_without_the_value():
    vault = Vault("embedded", Raising())
    with pytest.raises(
        VaultError, match="could not store the key: the keyring daemon crashed"
    ) as e:
        vault.store("key_1", VALUE)
    assert VALUE not in str(e.value)


def test_kernel_uses_the_servers_file(tmp_path, monkeypatch):
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(tmp_path / "elsewhere.json"))
    server_side = Vault("embedded", FileKeyring(tmp_path / "server" / "keyring.json"))
    server_side.store("key_1", VALUE)
    kernel_side = vault_for(server_side.info())
    assert kernel_side.fetch("key_1") == VALUE
    with pytest.raises(VaultError, match="not the server's"):
        vault_for({"class": "some.Other", "namespace": "embedded"})


# ---- a real Secret Service ----------------------------------------------------------------------

needs_secret_service = pytest.mark.skipif(
    secret_service_missing() is not None, reason=f"Secret Service: {secret_service_missing()}"
)


@needs_secret_service
def test_locked_secret_service_fails_fast_without_prompt(monkeypatch):
    import secretstorage

    with SecretService() as service:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        monkeypatch.setenv("QBRAID_KEYS_KEYRING", "system")
        vault = Vault("embedded")
        vault.store("key_1", VALUE)
        assert vault.info()["secure"] is True
        connection = secretstorage.dbus_init()
        secretstorage.Collection(connection).lock()
        connection.close()
        started = time.monotonic()
        with pytest.raises(VaultError, match="locked"):
            vault.fetch("key_1")
        assert time.monotonic() - started < 3


@needs_secret_service
def test_secret_service_without_keyring_fails_fast(monkeypatch):
    with SecretService(unlock=False) as service:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        monkeypatch.setenv("QBRAID_KEYS_KEYRING", "system")
        started = time.monotonic()
        with pytest.raises(VaultError):
            Vault("embedded").store("key_1", VALUE)
        assert time.monotonic() - started < 6


# ---- the server routes keep values in the keyring ---------------------------------------------


async def test_routes_store_replace_and_remove_values(jp_serverapp, keys_api, keyring_backend):  # noqa: F811
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    key = created["data"]
    assert code == 201 and key["stored"] is True
    vault = Vault("embedded")
    assert vault.fetch(key["id"]) == key["value"]

    _, listed = await keys_api("GET", "api/v1/api-keys")
    assert listed["data"][0]["stored"] is True

    _, rotated = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert rotated["data"]["stored"] is True
    assert vault.fetch(key["id"]) == rotated["data"]["value"] != key["value"]

    _, unstored = await keys_api("POST", "api/v1/api-keys", body={"name": "x", "store": False})
    assert unstored["data"]["stored"] is False and vault.fetch(unstored["data"]["id"]) is None

    await keys_api("DELETE", "api/v1/api-keys", key["id"])
    assert vault.fetch(key["id"]) is None

    _, status = await keys_api("GET", "status")
    ring = status["keyring"]
    if keyring_backend == "file":
        assert ring["class"] == "qbraid_keys_ext.vault.FileKeyring" and ring["secure"] is False
        assert mode(ring["path"]) == 0o600
    else:
        assert ring["class"] == "keyring.backends.SecretService.Keyring" and ring["secure"] is True
    assert ring["namespace"] == "embedded"


class CountingKeyring(keyring.backend.KeyringBackend):
    """An in-memory 'system' keyring that counts its reads."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.reads = 0

    def get_password(self, service, username):
        self.reads += 1
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username))


def test_listing_reads_a_file_keyring_once_and_again_only_after_a_change(file_env, monkeypatch):
    ring = FileKeyring()
    vault = Vault("host", ring)
    vault.store("key_a", "qbr_" + "a" * 64, "a")
    reads = []
    original = FileKeyring._read
    monkeypatch.setattr(FileKeyring, "_read", lambda self: reads.append(1) or original(self))
    held, index = vault.listing(["key_a", "key_b"])
    assert held == {"key_a"} and set(index) == {"key_a"} and len(reads) == 1
    assert vault.listing(["key_a", "key_b"])[0] == {"key_a"} and len(reads) == 1  # unchanged
    vault.store("key_b", "qbr_" + "b" * 64, "b")
    assert vault.listing(["key_a", "key_b"])[0] == {"key_a", "key_b"}
    vault.delete("key_a")
    held, index = vault.listing(["key_a", "key_b"])
    assert held == {"key_b"} and set(index) == {"key_b"}


def test_listing_on_a_system_keyring_reads_its_index_once_per_page():
    ring = CountingKeyring()
    vault = Vault("host", ring)
    vault.store("key_a", "qbr_" + "a" * 64, "a")  # recorded in the name index
    ring.set_password(SERVICE, "host/key_old", "qbr_" + "c" * 64)  # from before the index
    ring.reads = 0
    page = [f"key_{i}" for i in range(50)] + ["key_a", "key_old"]
    held, _ = vault.listing(page)
    assert held == {"key_a", "key_old"}
    first = ring.reads  # the index, and each id it does not name, once
    assert first == 1 + 51
    ring.reads = 0
    assert vault.listing(page)[0] == {"key_a", "key_old"}
    assert ring.reads == 1 + 1  # the index; key_old is still not in it (no listing wrote it)
    vault.store("key_3", "qbr_" + "d" * 64, "three")
    assert "key_3" in vault.listing(page)[0]
