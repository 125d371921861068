"""A kernel follows its key (Contract 4): rotations keep it working, a revoke fails clearly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .kernel_helpers import KernelSession, assert_absent
from .keyring_env import keyring_backend  # noqa: F401  (fixture)
from .test_magic import create, other_qbraidrc  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(240)

LOOP = """
import json, os, time
from qbraid_core import QbraidSessionV1
held = QbraidSessionV1()          # made before any rotation, reused throughout
ok, failed, names = 0, [], set()
stop = {stop!r}
while not os.path.exists(stop):
    for session in (held, QbraidSessionV1()):
        try:
            names.add(session.get_user_auth_metadata()["apiKey"]["name"])
            ok += 1
        except Exception as err:
            failed.append(type(err).__name__ + ": " + str(err)[:200])
    time.sleep(0.02)
print(json.dumps({{"ok": ok, "failed": failed, "names": sorted(names)}}))
"""


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    return jp_server_config


@pytest.fixture
def service(jp_serverapp):
    """The embedded key service behind the server (to act 'outside this Lab')."""
    return jp_serverapp.web_app.settings["qbraid_keys"]


async def use_ci(kernel) -> None:
    run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci")
    assert run.ok, run.error_text


@pytest.mark.usefixtures("other_qbraidrc")
async def test_a_busy_kernel_survives_20_rotations_with_no_failed_request(
    jp_serverapp, keys_api, tmp_path, leak_registry
):
    key = await create(keys_api, "ci")
    values = [key["value"]]
    stop = tmp_path / "stop"
    async with KernelSession(jp_serverapp) as kernel:
        await use_ci(kernel)
        loop = asyncio.ensure_future(kernel.execute(LOOP.format(stop=str(stop)), timeout=180))
        await asyncio.sleep(1.0)
        hints = []
        for _ in range(20):
            code, answer = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
            assert code == 200, answer
            values.append(answer["data"]["value"])
            hints.append(answer["data"]["hint"])
            await asyncio.sleep(0.25)
        Path(stop).write_text("")
        run = await loop
        assert run.ok, run.error_text
        seen = json.loads(run.stdout)
        assert seen["failed"] == []
        assert seen["ok"] > 40 and seen["names"] == ["ci"]

        run = await kernel.execute("%qbraid_key current")
        assert run.stdout.strip() == f"This kernel uses qBraid API key 'ci' ({hints[-1]})."
        text = kernel.raw_text()
        for value in values:
            assert_absent(value, text, "the kernel's messages")
    leak_registry.add_values(*values)


async def revoked_message(kernel) -> str:
    run = await kernel.execute(
        "from qbraid_core import QbraidSessionV1\nQbraidSessionV1().get_user_auth_metadata()"
    )
    assert not run.ok
    traceback = run.reply["content"]["traceback"]
    assert len(traceback) == 1, traceback
    assert "qbraid configure" not in traceback[0]
    return traceback[0]


async def test_after_a_revoke_the_next_request_fails_with_one_line(jp_serverapp, keys_api):
    key = await create(keys_api, "ci")
    async with KernelSession(jp_serverapp) as kernel:
        await use_ci(kernel)
        code, _ = await keys_api("DELETE", "api/v1/api-keys", key["id"])
        assert code == 200
        line = await revoked_message(kernel)
        assert "'ci' was revoked" in line and "%qbraid_key use OTHER" in line
        run = await kernel.execute("%qbraid_key current")
        assert "'ci' was revoked" in run.stdout


async def test_after_a_deactivate_the_message_says_how_to_activate(jp_serverapp, keys_api):
    key = await create(keys_api, "ci")
    async with KernelSession(jp_serverapp) as kernel:
        await use_ci(kernel)
        code, _ = await keys_api("PATCH", "api/v1/api-keys", key["id"], body={"status": "inactive"})
        assert code == 200
        line = await revoked_message(kernel)
        assert "'ci' is inactive" in line and "API Keys sidebar" in line
        code, _ = await keys_api("PATCH", "api/v1/api-keys", key["id"], body={"status": "active"})
        run = await kernel.execute(
            "from qbraid_core import QbraidSessionV1\n"
            "print(QbraidSessionV1().get_user_auth_metadata()['apiKey']['name'])"
        )
        assert run.ok, run.error_text
        assert run.stdout.strip() == "ci"


async def test_revoked_or_rotated_outside_this_lab(jp_serverapp, keys_api, service, leak_registry):
    ci = await create(keys_api, "ci")
    other = await create(keys_api, "other")
    async with KernelSession(jp_serverapp) as kernel:
        await use_ci(kernel)
        outside = service.embedded.store.rotate(ci["id"])  # another Lab, or the service itself
        leak_registry.add_values(outside["value"])
        line = await revoked_message(kernel)
        assert "regenerated outside this Lab" in line
        assert "%qbraid_key add ci" in line

        run = await kernel.execute("%qbraid_key add ci", stdin=[outside["value"]])
        assert run.ok, run.error_text
        run = await kernel.execute(
            "from qbraid_core import QbraidSessionV1\n"
            "print(QbraidSessionV1().get_user_auth_metadata()['apiKey']['name'])"
        )
        assert run.ok, run.error_text

        run = await kernel.execute("%qbraid_key use other")
        assert run.ok, run.error_text
        service.embedded.store.delete(other["id"])
        line = await revoked_message(kernel)
        assert "'other' was revoked" in line
        assert_absent(outside["value"], kernel.raw_text(), "the kernel's messages")
