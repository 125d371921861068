"""Key names are unique regardless of case, on the service, the Jupyter routes and in kernels;
a database made before that rule keeps its keys whose names differ only in case."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.upstream import KeyApiClient

from .kernel_helpers import KernelSession

pytestmark = pytest.mark.timeout(120)

# The keys table as version 0.1.0 made it, before names were compared regardless of case
# (its UNIQUE (account, name) let `dup` and `DUP` both exist).
OLD_SCHEMA = """
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    hint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    last_used_at TEXT,
    UNIQUE (account, name)
);
CREATE UNIQUE INDEX keys_digest ON keys (digest);
CREATE TABLE usage (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, date)
);
"""
READ_ONLY = ["devices:read", "jobs:read", "credits:read"]


async def create(keys_api, name: str) -> tuple[int, dict]:
    return await keys_api("POST", "api/v1/api-keys", body={"name": name})


async def test_a_name_in_another_case_is_taken(keys_api):
    code, dup = await create(keys_api, "dup")
    assert code == 201
    for name in ("DUP", " Dup "):
        code, answer = await create(keys_api, name)
        assert (code, answer["error"]["code"]) == (409, "NAME_TAKEN")
        assert answer["message"] == (
            "An API key named 'dup' already exists (names are unique regardless of case)."
        )
    code, other = await create(keys_api, "other")
    other_id = other["data"]["id"]
    code, answer = await keys_api("PATCH", "api/v1/api-keys", other_id, body={"name": "dUp"})
    assert (code, answer["error"]["code"]) == (409, "NAME_TAKEN")
    # A key may change the case of its own name.
    dup_id = dup["data"]["id"]
    code, answer = await keys_api("PATCH", "api/v1/api-keys", dup_id, body={"name": "Dup"})
    assert code == 200 and answer["data"]["name"] == "Dup"
    _, listed = await keys_api("GET", "api/v1/api-keys")
    assert [k["name"] for k in listed["data"]] == ["other", "Dup"]


async def test_use_finds_a_key_regardless_of_case(jp_serverapp, keys_api):
    _, ci = await create(keys_api, "CI-runner")
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci-runner")
        assert run.ok, run.error_text
        hint = ci["data"]["hint"]
        assert run.stdout == f"Using qBraid API key 'CI-runner' ({hint}) in this kernel.\n"
        run = await kernel.execute("%qbraid_key current")
        assert run.stdout == f"This kernel uses qBraid API key 'CI-runner' ({hint}).\n"


# -- upgrade of a database made before the rule ----------------------------------------------


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def legacy_keys(tmp_path, leak_registry) -> dict[str, dict[str, str]]:
    """The database the server will open, made by version 0.1.0: `dup`, `DUP` and `solo`."""
    path = Path(tmp_path) / "keys" / "keys.sqlite3"  # conftest's QbraidKeys.db_path
    path.parent.mkdir(parents=True)
    keys = {}
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        for n, name in enumerate(("dup", "DUP", "solo")):
            value = keyformat.generate()
            leak_registry.add_values(value)
            key = {"id": f"key_{n:016x}", "name": name, "value": value}
            db.execute(
                "INSERT INTO keys (id, account, name, digest, hint, scopes, status, created_at)"
                " VALUES (?, 'local', ?, ?, ?, ?, 'active', ?)",
                (
                    key["id"],
                    name,
                    keyformat.digest(value),
                    keyformat.hint(value),
                    json.dumps(READ_ONLY),
                    f"2026-01-0{n + 1}T00:00:00Z",
                ),
            )
            keys[name] = key
    return keys


class TestUpgradeKeepsCaseTwins:
    """`dup` and `DUP` both keep working; no third name like them; `use` asks for the exact one."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config, legacy_keys):
        return jp_server_config

    async def test_upgrade(self, jp_serverapp, keys_api, legacy_keys, caplog):
        _, listed = await keys_api("GET", "api/v1/api-keys")
        warned = [
            r.getMessage()
            for r in caplog.get_records("setup") + caplog.records
            if r.name == "qbraid_keys_ext.service.store" and r.levelno == logging.WARNING
        ]
        assert warned == [
            "API keys 'DUP' and 'dup' have names that differ only in case; they keep working, "
            "and no other key may take such a name. Rename all but one to tell them apart."
        ]
        assert {k["name"]: k["id"] for k in listed["data"]} == {
            name: key["id"] for name, key in legacy_keys.items()
        }
        extension = next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))
        verifier = KeyApiClient(f"{extension.upstream_root}/api/v1")
        for name, key in legacy_keys.items():
            assert (await verifier.verify(key["value"]))["apiKey"]["name"] == name
            extension.vault.store(key["id"], key["value"])

        code, answer = await create(keys_api, "Dup")
        assert (code, answer["error"]["code"]) == (409, "NAME_TAKEN")

        async with KernelSession(jp_serverapp) as kernel:

            async def use(name: str) -> str:
                run = await kernel.execute(f"%qbraid_key use {name}")
                return run.stdout if run.ok else run.error_text

            async def env_holds(name: str) -> bool:
                run = await kernel.execute(
                    "import hashlib, os\n"
                    "print(hashlib.sha256(os.environ['QBRAID_API_KEY'].encode()).hexdigest())"
                )
                return run.stdout.strip() == sha(legacy_keys[name]["value"])

            await kernel.execute("%load_ext qbraid_keys_ext")
            assert (await use("dup")).startswith("Using qBraid API key 'dup' ")
            assert await env_holds("dup")
            assert (await use("DUP")).startswith("Using qBraid API key 'DUP' ")
            assert await env_holds("DUP")
            assert (await use("SOLO")).startswith("Using qBraid API key 'solo' ")
            assert "Several qBraid API keys match 'Dup': 'DUP', 'dup'; give the exact name." in (
                await use("Dup")
            )
            assert await env_holds("solo")

            # Renaming one of the twins tells them apart; then any case finds the other.
            code, _ = await keys_api(
                "PATCH", "api/v1/api-keys", legacy_keys["DUP"]["id"], body={"name": "dup-2"}
            )
            assert code == 200
            assert (await use("Dup")).startswith("Using qBraid API key 'dup' ")
            assert await env_holds("dup")
        # ... and the renamed one can no longer go back to a name its twin holds in any case.
        code, answer = await keys_api(
            "PATCH", "api/v1/api-keys", legacy_keys["DUP"]["id"], body={"name": "DUP"}
        )
        assert (code, answer["error"]["code"]) == (409, "NAME_TAKEN")
        assert (await verifier.verify(legacy_keys["DUP"]["value"]))["apiKey"]["name"] == "dup-2"
