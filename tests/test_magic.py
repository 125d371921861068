"""`%qbraid_key` in a real kernel started by the real server (Contract 3)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from qbraid_keys_ext.service import keyformat

from .bulk import create_many
from .kernel_helpers import KernelSession, assert_absent
from .keyring_env import keyring_backend  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    """The conftest server configuration, with the keyring variant set up before the server."""
    return jp_server_config


@pytest.fixture
def other_qbraidrc(jp_home_dir) -> Path:
    """A qbraidrc holding ANOTHER valid-format key, an access token and a dead URL."""
    rc = Path(jp_home_dir) / ".qbraid" / "qbraidrc"
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text(
        "[default]\n"
        f"api-key = {keyformat.generate()}\n"
        "access-token = not-a-real-access-token\n"
        "url = http://127.0.0.1:9/api/v1\n"
        "email = someone@example.com\n"
    )
    return rc


async def create(keys_api, name: str, **body) -> dict:
    code, answer = await keys_api("POST", "api/v1/api-keys", body={"name": name, **body})
    assert code == 201, answer.get("message")
    return answer["data"]


async def key_named(keys_api, name: str) -> dict:
    _, listed = await keys_api("GET", "api/v1/api-keys")
    return next(k for k in listed["data"] if k["name"] == name)


async def test_use_then_qbraid_core_authenticates_as_that_key(
    jp_serverapp, keys_api, other_qbraidrc
):
    rc_before = other_qbraidrc.read_bytes()
    key = await create(keys_api, "ci")
    value = key["value"]
    assert key["stored"] is True
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci")
        assert run.ok, run.error_text
        assert run.stdout == f"Using qBraid API key 'ci' ({key['hint']}) in this kernel.\n"
        assert not [m for m in run.iopub if m["msg_type"] == "execute_result"]

        run = await kernel.execute(
            "import os, json\n"
            "from qbraid_core import QbraidSessionV1, QbraidClientV1\n"
            "s = QbraidSessionV1()\n"
            "who = s.get_user_auth_metadata()\n"
            "QbraidClientV1()\n"
            "print(json.dumps({'name': who['apiKey']['name'], 'base': s.base_url,"
            " 'same': s.api_key == os.environ['QBRAID_API_KEY'], 'token': s.access_token}))"
        )
        assert run.ok, run.error_text
        seen = json.loads(run.stdout)
        assert seen["name"] == "ci"
        assert seen["same"] is True and seen["token"] is None
        assert seen["base"].startswith("http://127.0.0.1:") and seen["base"].endswith("/api/v1/")
        assert_absent(value, kernel.raw_text(), "the kernel's messages")
    assert other_qbraidrc.read_bytes() == rc_before
    for _ in range(50):  # usage is flushed in batches
        if (await key_named(keys_api, "ci"))["lastUsedAt"]:
            break
        await asyncio.sleep(0.2)
    assert (await key_named(keys_api, "ci"))["usage"]["total"] >= 1


async def test_errors_are_one_line_without_traceback(jp_serverapp, keys_api):
    await create(keys_api, "ci")
    await create(keys_api, "elsewhere", store=False)
    inactive = await create(keys_api, "old")
    await keys_api("PATCH", "api/v1/api-keys", inactive["id"], body={"status": "inactive"})
    async with KernelSession(jp_serverapp) as kernel:
        assert (await kernel.execute("%load_ext qbraid_keys_ext")).ok
        cases = {
            "%qbraid_key use nope": ["no qBraid API key named 'nope'", "'ci'", "'elsewhere'"],
            "%qbraid_key use elsewhere": ["not stored in this Lab", "%qbraid_key add elsewhere"],
            "%qbraid_key use old": ["inactive"],
            "%qbraid_key frobnicate": ["Unknown command"],
            "%qbraid_key use": ["Name the key"],
        }
        for line, parts in cases.items():
            run = await kernel.execute(line)
            content = run.reply["content"]
            assert content["status"] == "error", line
            assert len(content["traceback"]) == 1, (line, content["traceback"])
            for part in parts:
                assert part in content["evalue"], (line, content["evalue"])
        run = await kernel.execute("%qbraid_key current")
        assert "uses no qBraid API key" in run.stdout


async def test_current_list_status_clear(jp_serverapp, keys_api):
    key = await create(keys_api, "ci")
    await create(keys_api, "other", store=False)
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute(
            "import os\nos.environ['QBRAID_API_URL'] = 'http://before.invalid/api/v1'\n"
            "%load_ext qbraid_keys_ext\n%qbraid_key use ci\n%qbraid_key current"
        )
        assert run.ok, run.error_text
        assert f"This kernel uses qBraid API key 'ci' ({key['hint']})." in run.stdout

        run = await kernel.execute("%qbraid_key list")
        lines = run.stdout.splitlines()
        assert lines[0].split() == ["NAME", "HINT", "STATUS", "LAST", "USED", "STORED", "HERE"]
        ci = next(line for line in lines if " ci " in line)
        assert ci.startswith("*") and key["hint"] in ci and ci.rstrip().endswith("yes")
        assert next(line for line in lines if " other " in line).rstrip().endswith("no")

        run = await kernel.execute("%qbraid_key status")
        assert run.ok, run.error_text
        assert "Upstream: embedded key service at http://127.0.0.1:" in run.stdout
        assert "(reachable" in run.stdout and "Keyring: " in run.stdout
        assert "Jupyter server: http" in run.stdout

        run = await kernel.execute(
            "%qbraid_key clear\n"
            "print(os.environ.get('QBRAID_API_KEY'), os.environ.get('QBRAID_API_URL'))\n"
            "import qbraid_core.config as c\n"
            "d = c.load_config.__defaults__[0]\n"
            "print(d == c.USER_CONFIG_PATH == str(c.DEFAULT_CONFIG_PATH))"
        )
        assert run.ok, run.error_text
        assert run.stdout.splitlines() == [
            "Removed qBraid API key 'ci' from this kernel.",
            "None http://before.invalid/api/v1",
            "True",
        ]
        assert_absent(key["value"], kernel.raw_text(), "the kernel's messages")


async def test_kernel_finds_server_by_runtime_file(jp_serverapp, jp_runtime_dir, keys_api):
    info = Path(jp_runtime_dir) / f"jpserver-{os.getpid()}.json"
    assert info.is_file()
    await create(keys_api, "ci")
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute(
            "import os\nprint(os.environ.get('QBRAID_KEYS_SERVER_URL'), "
            "os.environ['JPY_PARENT_PID'] == str(os.getppid()) or os.environ['JPY_PARENT_PID'])\n"
            "from qbraid_keys_ext.kernel import use_key\nmsg = use_key('ci')\nprint(msg)"
        )
        assert run.ok, run.error_text
        first, _, last = run.stdout.strip().partition("\n")
        assert first.startswith("None ")
        assert last.startswith("Using qBraid API key 'ci'")


async def test_server_not_found_is_one_line(jp_serverapp, keys_api):
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute(
            "import os\nos.environ.pop('QBRAID_KEYS_SERVER_URL', None)\n"
            "os.environ['JPY_PARENT_PID'] = '1'\n"
            "%load_ext qbraid_keys_ext\n%qbraid_key use ci"
        )
        content = run.reply["content"]
        assert content["status"] == "error" and len(content["traceback"]) == 1
        assert "left no runtime file" in content["evalue"]
        run = await kernel.execute("%qbraid_key status")
        assert run.ok and "Jupyter server: not found" in run.stdout


async def test_add_reads_without_echo_checks_and_verifies(jp_serverapp, keys_api):
    key = await create(keys_api, "ci", store=False)
    other = await create(keys_api, "other", store=False)
    value = key["value"]
    typo = value[:-1] + ("0" if value[-1] != "0" else "1")
    async with KernelSession(jp_serverapp) as kernel:
        assert (await kernel.execute("%load_ext qbraid_keys_ext")).ok
        run = await kernel.execute("%qbraid_key add ci", stdin=["qbr_nothex"])
        assert "not a qBraid API key value" in run.reply["content"]["evalue"]
        run = await kernel.execute("%qbraid_key add ci", stdin=[typo])
        assert "checksum" in run.reply["content"]["evalue"]
        run = await kernel.execute("%qbraid_key add ci", stdin=[other["value"]])
        assert "belongs to the key 'other'" in run.reply["content"]["evalue"]
        assert (await key_named(keys_api, "ci"))["stored"] is False

        run = await kernel.execute("%qbraid_key add ci", stdin=[value])
        assert run.ok, run.error_text
        assert "Stored the value of qBraid API key 'ci'" in run.stdout
        requests = [m for m in kernel.messages if m["msg_type"] == "input_request"]
        assert requests and all(m["content"]["password"] for m in requests)
        assert (await key_named(keys_api, "ci"))["stored"] is True
        run = await kernel.execute("%qbraid_key use ci")
        assert run.ok, run.error_text
        for secret, where in ((value, "ci"), (other["value"], "other")):
            assert_absent(secret, kernel.raw_text(), f"the kernel's messages ({where})")


async def test_env_override_finds_the_server(jp_serverapp, jp_base_url, jp_http_port, keys_api):
    await create(keys_api, "ci")
    token = jp_serverapp.identity_provider.token
    env = {
        "QBRAID_KEYS_SERVER_URL": f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
        "QBRAID_KEYS_SERVER_TOKEN": token,
    }
    async with KernelSession(jp_serverapp, env=env) as kernel:
        run = await kernel.execute(
            "import os\nos.environ['JPY_PARENT_PID'] = '1'\n"
            "%load_ext qbraid_keys_ext\n%qbraid_key use ci"
        )
        assert run.ok, run.error_text
        assert run.stdout.startswith("Using qBraid API key 'ci'")
        assert_absent(token, kernel.raw_text(), "the kernel's messages (server token)")


async def test_stale_or_unreadable_keyring_is_explained(jp_serverapp, keys_api, keyring_backend):  # noqa: F811
    from qbraid_keys_ext.vault import Vault

    key = await create(keys_api, "ci")
    Vault("embedded").store(key["id"], keyformat.generate())  # an older value, say
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci")
        assert run.reply["content"]["status"] == "error"
        assert "older value" in run.reply["content"]["evalue"]
        if keyring_backend == "file":
            _, status = await keys_api("GET", "status")
            Path(status["keyring"]["path"]).write_text("{damaged")
            run = await kernel.execute("%qbraid_key use ci")
            content = run.reply["content"]
            assert content["ename"] == "KeyringUnavailable" and len(content["traceback"]) == 1
            assert "keyring cannot be used" in content["evalue"] and "damaged" in content["evalue"]


async def test_panel_command_shows_the_widget(jp_serverapp, keys_api):
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key panel")
        assert run.ok, run.error_text
        shown = [o for o in run.outputs if o["output_type"] == "display_data"]
        assert shown and "application/vnd.jupyter.widget-view+json" in shown[0]["data"]


async def test_use_and_list_never_fetch_the_whole_account(jp_serverapp, keys_api):
    """With many keys, `use` asks for one name and `list` for one page (issue 13)."""
    extension = next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))
    await extension.ensure_upstream()
    store = extension.embedded.store
    key = await create(keys_api, "Deploy")
    create_many(store, (f"bulk{i:03}" for i in range(150)))

    def whole_account():
        raise AssertionError("the whole account was listed")

    store.list_keys = whole_account  # only pages and name lookups may reach the service
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use deploy")
        assert run.ok, run.error_text
        assert f"Using qBraid API key 'Deploy' ({key['hint']}) in this kernel." in run.stdout

        run = await kernel.execute("%qbraid_key list")
        assert run.ok, run.error_text
        lines = run.stdout.splitlines()
        assert len(lines) == 1 + 100 + 1 and lines[1].split()[0] == "bulk149"
        assert lines[-1].startswith("The newest 100 of 151 keys in this account;")

        run = await kernel.execute("%qbraid_key list BULK01")
        assert run.ok, run.error_text
        names = [line.split()[0] for line in run.stdout.splitlines()[1:]]
        assert names == [f"bulk{i:03}" for i in range(19, 9, -1)]

        run = await kernel.execute("%qbraid_key use nope")
        evalue = run.reply["content"]["evalue"]
        assert "no qBraid API key named 'nope'" in evalue
        assert "Keys (the newest 20 of 151): " in evalue and "'bulk149'" in evalue
