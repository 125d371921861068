"""The KeysPanel driven like a user would, in a real kernel of the real server + embedded service.

Each test starts a notebook session (kernel) through the server's REST API; the kernel finds
the server through its runtime file, builds a `KeysPanel`, clicks its buttons and fills its
inputs, and prints `panel.describe()` (what the panel shows, as text) for the test to check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from qbraid_keys_ext.upstream import KeyApiClient, KeyApiError

from .bulk import create_many
from .kernel_helpers import assert_absent

REPO = Path(__file__).resolve().parents[1]
VALUE = re.compile(r"qbr_[0-9a-f]{64}")

PRELUDE = """
import hashlib, json, os, re
from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances
from qbraid_keys_ext import KeysPanel

def _show(p):
    print(json.dumps(p.describe()))

def _sha(value):
    return hashlib.sha256((value or "").encode()).hexdigest()

def _env_is(digest):
    '''Whether QBRAID_API_KEY holds the value with this digest (values never go in code).'''
    return _sha(os.environ.get("QBRAID_API_KEY")) == digest

def _holds(value):
    '''Whether any widget model (or the saved manager state) holds value.'''
    state = json.dumps(Widget.get_manager_state(drop_defaults=False))
    traits = json.dumps([x.get_state() for x in list(_instances.values())], default=str)
    return value in state or value in traits

def _holds_any_value():
    '''Whether any widget model (or the saved manager state) holds a key value.'''
    state = json.dumps(Widget.get_manager_state(drop_defaults=False))
    traits = json.dumps([x.get_state() for x in list(_instances.values())], default=str)
    return bool(re.search("qbr_[0-9a-f]{64}", state + traits))
"""


def sha(value: str) -> str:
    """The digest the kernel code compares with (a value itself never goes into a cell)."""
    return hashlib.sha256(value.encode()).hexdigest()


class Kernel:
    """A notebook kernel started by the server, with a client to run code in it."""

    def __init__(self, client: Any, kernel_id: str) -> None:
        self.client = client
        self.id = kernel_id
        self.displayed: list[dict[str, Any]] = []

    async def run(self, code: str, timeout: float = 20) -> str:
        """Run code; return its stdout; fail on an error or any other output."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else errors).append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))
            elif kind == "display_data":
                self.displayed.append(content["data"])

        await self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        assert not errors, "".join(errors)
        return "".join(out)

    async def show(self, code: str = "", panel: str = "panel") -> dict[str, Any]:
        """Run code, then return what the panel shows; the code itself must print nothing."""
        out = await self.run(f"{code}\n_show({panel})")
        lines = out.strip().splitlines()
        assert len(lines) == 1, f"unexpected output: {out}"
        return json.loads(lines[0])

    async def ask(self, expression: str) -> Any:
        """The JSON value of an expression in the kernel."""
        return json.loads((await self.run(f"print(json.dumps({expression}))")).strip())


@pytest.fixture
def kernel(jp_serverapp, jp_fetch, jp_asyncio_loop, monkeypatch):
    """A kernel of a notebook session `panel.ipynb`, started like Lab starts one."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.delenv("QBRAID_KEYS_SERVER_URL", raising=False)
    jp_serverapp.write_server_info_file()
    body = {"path": "panel.ipynb", "type": "notebook", "kernel": {"name": "python3"}}

    async def start() -> tuple[Kernel, str]:
        answer = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
        session = json.loads(answer.body)
        kernel_id = session["kernel"]["id"]
        client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        k = Kernel(client, kernel_id)
        await k.run(PRELUDE)
        return k, session["id"]

    k, session_id = jp_asyncio_loop.run_until_complete(start())
    yield k
    k.client.stop_channels()
    jp_asyncio_loop.run_until_complete(jp_fetch("api", "sessions", session_id, method="DELETE"))
    jp_serverapp.remove_server_info_file()


@pytest.fixture
def extension(jp_serverapp):
    return next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))


async def verify(extension, value: str) -> dict | KeyApiError:
    """Use a value against the upstream, as the qBraid SDK would."""
    try:
        return await KeyApiClient(f"{extension.upstream_root}/api/v1").verify(value)
    except KeyApiError as err:
        return err


async def make_key(keys_api, name: str, **body: Any) -> dict[str, Any]:
    code, answer = await keys_api("POST", "api/v1/api-keys", body={"name": name, **body})
    assert code == 201, answer
    return answer["data"]


async def test_empty_then_create_shows_value_once_and_forgets_it(kernel, keys_api, extension):
    shown = await kernel.show("panel = KeysPanel()")
    assert shown["title"] == "qBraid API keys · 0 keys"
    assert shown["empty"] == "No keys yet. Create one with New key."
    assert shown["message"] == "" and shown["rows"] == {} and shown["form"] is None

    shown = await kernel.show("panel.new_button.click()")
    # Least privilege: only the read-only permissions are ticked; jobs:write says it spends.
    assert shown["form"]["scopes"] == ["devices:read", "jobs:read", "credits:read"]
    assert shown["form"]["store"] is True
    labels = await kernel.ask("{n: b.description for n, b in panel.scope_boxes.items()}")
    assert [n for n, label in labels.items() if "spends credits" in label] == ["jobs:write"]

    shown = await kernel.show(
        "panel.name_input.value = 'ci'\n"
        "panel.scope_boxes['jobs:write'].value = True\n"
        "panel.scope_boxes['credits:read'].value = False\n"
        "panel.create_button.click()"
    )
    assert shown["message"] == "Created key 'ci'. Copy its value below."
    assert shown["form"] is None
    assert "Created key ci. Copy its value now: it is shown only this once." in shown["oneTime"]
    assert "also stored in this Lab's keyring" in shown["oneTime"]
    [value] = VALUE.findall(shown["oneTime"])
    row = shown["rows"]["ci"]
    assert re.fullmatch(
        r"ci qbr_[0-9a-f]{4}…[0-9a-f]{4} active created \d{4}-\d\d-\d\d · last used never"
        r" · stored in this Lab",
        row["summary"],
    )
    assert value[:8] in row["summary"]
    assert_absent(value, json.dumps(row), "the row")
    assert row["buttons"] == ["Details", "Use", "Deactivate", "Regenerate key", "Revoke key"]
    verified = await verify(extension, value)
    assert verified["apiKey"]["scopes"] == ["devices:read", "jobs:read", "jobs:write"]

    # While the box is up the value is in exactly one widget's state; Done removes it.
    await kernel.run("_v = re.findall('qbr_[0-9a-f]{64}', panel.value_box.content.value)[0]")
    assert await kernel.ask(f"_sha(_v) == {sha(value)!r}") is True
    assert await kernel.ask("_holds(_v)") is True
    shown = await kernel.show("_box = panel.value_box\npanel.value_box.done_button.click()")
    assert shown["oneTime"] is None
    assert await kernel.ask("_holds(_v)") is False
    assert await kernel.ask("[_box.comm, _box.content.comm, _box.content.value]") == [
        None,
        None,
        "",
    ]
    assert_absent(value, json.dumps(shown), "what the panel shows")
    assert await kernel.ask("_v in json.dumps(panel.describe())") is False


async def test_create_without_storing(kernel, keys_api):
    shown = await kernel.show(
        "panel = KeysPanel()\npanel.new_button.click()\n"
        "panel.name_input.value = 'elsewhere'\npanel.store_box.value = False\n"
        "panel.create_button.click()"
    )
    assert "It is not stored in this Lab's keyring." in shown["oneTime"]
    assert shown["rows"]["elsewhere"]["summary"].endswith("· not stored in this Lab")
    _, listed = await keys_api("GET", "api/v1/api-keys")
    assert listed["data"][0]["stored"] is False


async def test_details_show_dates_permissions_and_usage(kernel, keys_api, extension):
    key = await make_key(keys_api, "reader", scopes=["devices:read", "jobs:read"])
    for _ in range(3):
        await verify(extension, key["value"])
    shown = await kernel.show("panel = KeysPanel()\npanel.row('reader').details_button.click()")
    details = shown["rows"]["reader"]["details"]
    assert shown["message"] == ""
    assert re.search(
        r"Created \d{4}-\d\d-\d\d \d\d:\d\d UTC \((just now|\d+ minutes? ago)\)", details
    )
    assert "Value regenerated never" in details
    assert re.search(r"Last used \d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\)", details)
    assert "Status Active: requests with this key are accepted." in details
    assert "Permissions devices:read, jobs:read" in details
    assert "Usage 3 in total, 3 in the last 30 days" in details
    assert "In this Lab's keyring yes" in details
    assert "last used just now" in shown["rows"]["reader"]["summary"]
    chart = await kernel.ask("panel.row('reader').details.value")
    assert chart.count("<rect ") == 30 and ": 3 uses</title>" in chart
    shown = await kernel.show("panel.row('reader').details_button.click()")
    assert shown["rows"]["reader"]["details"] is None


async def test_rotate_confirms_names_kernels_and_shows_new_value(kernel, keys_api, extension):
    old = await make_key(keys_api, "ci")
    shown = await kernel.show("panel = KeysPanel()\npanel.row('ci').use_button.click()")
    assert shown["message"].startswith("Using qBraid API key 'ci'")

    shown = await kernel.show("panel.row('ci').rotate_button.click()")
    text, *buttons = shown["rows"]["ci"]["confirm"]
    assert buttons == ["Regenerate Key", "Cancel"]
    assert f"Regenerate 'ci'? Its current value ({old['hint']}) stops working at once" in text
    assert "Kernels of this server using it: panel.ipynb (this notebook)." in text

    shown = await kernel.show("panel.row('ci').cancel_button.click()")
    assert shown["rows"]["ci"]["confirm"] is None
    assert not isinstance(await verify(extension, old["value"]), KeyApiError)

    shown = await kernel.show(
        "panel.row('ci').rotate_button.click()\npanel.row('ci').confirm_button.click()"
    )
    assert shown["message"] == (
        "Regenerated 'ci': the old value no longer works. This notebook now uses the new value."
    )
    assert shown["rows"]["ci"]["confirm"] is None
    rejected = await verify(extension, old["value"])
    assert isinstance(rejected, KeyApiError) and rejected.code == "INVALID_API_KEY"
    # The new value is in this Lab's keyring, in the one-time box, and in the kernel's
    # environment (the kernel hides it in everything it sends, so the test compares there).
    new = extension.vault.fetch(old["id"])
    assert VALUE.fullmatch(new) and new != old["value"]
    assert (await verify(extension, new))["apiKey"]["name"] == "ci"
    assert new[:8] in shown["rows"]["ci"]["summary"]
    assert "Regenerated key ci." in shown["oneTime"]
    assert "[qbraid key 'ci' hidden]" in shown["oneTime"]
    assert_absent(new, shown["oneTime"], "the kernel's output")
    assert await kernel.ask(
        "[_sha(v) for v in re.findall('qbr_[0-9a-f]{64}', panel.value_box.content.value)]"
        f" == [{sha(new)!r}]"
    )
    assert await kernel.ask(f"_env_is({sha(new)!r})") is True
    shown = await kernel.show("panel.value_box.done_button.click()")
    assert shown["oneTime"] is None
    assert await kernel.ask("_holds_any_value()") is False


async def test_revoke_confirms_then_removes_the_key(kernel, keys_api, extension):
    key = await make_key(keys_api, "gone")
    await make_key(keys_api, "kept")
    shown = await kernel.show("panel = KeysPanel()\npanel.row('gone').revoke_button.click()")
    text, *buttons = shown["rows"]["gone"]["confirm"]
    assert buttons == ["Revoke", "Cancel"]
    assert "Revoke 'gone'" in text and "cannot be recovered" in text
    assert "No kernel of this server uses it." in text

    shown = await kernel.show("panel.row('gone').confirm_button.click()")
    assert shown["message"] == "Revoked 'gone': its value no longer works."
    assert list(shown["rows"]) == ["kept"]
    assert shown["title"] == "qBraid API keys · 1 key"
    assert isinstance(await verify(extension, key["value"]), KeyApiError)
    code, _ = await keys_api("GET", "api/v1/api-keys", key["id"])
    assert code == 404


async def test_deactivate_and_activate(kernel, keys_api, extension):
    key = await make_key(keys_api, "paused")
    shown = await kernel.show("panel = KeysPanel()\npanel.row('paused').status_button.click()")
    row = shown["rows"]["paused"]
    assert shown["message"] == "'paused' is inactive: its value is refused until you activate it."
    assert " inactive created " in row["summary"] and row["buttons"][2] == "Activate"
    rejected = await verify(extension, key["value"])
    assert isinstance(rejected, KeyApiError) and rejected.code == "API_KEY_INACTIVE"
    # The sidebar's rule: an inactive key cannot be used here; everything else stays.
    blocked = "Activate the key first: requests with it are refused while it is inactive."
    assert row["disabled"] == {"Use": blocked}
    badge = await kernel.ask("panel.row('paused').summary.value")
    assert "title='Inactive: requests with this key are refused until it is activated.'>" in badge
    assert "line-through" not in badge
    shown = await kernel.show("panel.row('paused').use_button.click()")
    assert shown["message"] == f"'paused' cannot be used here. {blocked}"
    assert await kernel.ask("'QBRAID_API_KEY' in os.environ") is False

    shown = await kernel.show("panel.row('paused').status_button.click()")
    assert shown["message"] == "'paused' is active again."
    assert " active created " in shown["rows"]["paused"]["summary"]
    assert shown["rows"]["paused"]["buttons"][2] == "Deactivate"
    assert shown["rows"]["paused"]["disabled"] == {}
    assert not isinstance(await verify(extension, key["value"]), KeyApiError)


async def test_use_in_this_notebook(kernel, keys_api):
    key = await make_key(keys_api, "ci")
    shown = await kernel.show("panel = KeysPanel()\npanel.row('ci').use_button.click()")
    assert shown["message"].startswith(f"Using qBraid API key 'ci' ({key['hint']})")
    assert_absent(key["value"], json.dumps(shown), "what the panel shows")
    assert await kernel.ask(f"_env_is({sha(key['value'])!r})") is True

    await make_key(keys_api, "remote-only", store=False)
    shown = await kernel.show("panel.reload()\npanel.row('remote-only').use_button.click()")
    assert shown["message"] and "remote-only" in shown["message"]
    assert "Traceback" not in shown["message"]
    assert await kernel.ask(f"_env_is({sha(key['value'])!r})") is True


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ci", "already"),
        ("x" * 65, "64"),
        ("tab\there", "control"),
        ("   ", "Give the key a name, e.g. ci."),
    ],
)
async def test_create_errors_show_in_the_panel(kernel, keys_api, name, expected):
    await make_key(keys_api, "ci")
    shown = await kernel.show(
        "panel = KeysPanel()\npanel.new_button.click()\n"
        f"panel.name_input.value = {name!r}\npanel.create_button.click()"
    )
    assert expected in shown["message"], shown["message"]
    assert shown["oneTime"] is None and shown["form"]["name"] == name
    assert list(shown["rows"]) == ["ci"]
    assert len((await keys_api("GET", "api/v1/api-keys"))[1]["data"]) == 1


async def test_a_long_name_is_kept_whole_and_its_limit_shown(kernel, keys_api):
    shown = await kernel.show("panel = KeysPanel()\npanel.new_button.click()")
    assert shown["form"]["count"] == "0/64 characters"
    pasted = "a-name-pasted-from-a-ticket-that-is-much-longer-than-a-key-name-may-be"
    shown = await kernel.show(f"panel.name_input.value = {pasted!r}")
    assert shown["form"]["name"] == pasted  # not cut
    assert shown["form"]["count"] == f"{len(pasted)}/64 characters: too long"
    shown = await kernel.show("panel.create_button.click()")
    assert shown["message"] == f"Names are at most 64 characters long; this one has {len(pasted)}."
    assert shown["form"]["name"] == pasted and shown["oneTime"] is None
    assert (await keys_api("GET", "api/v1/api-keys"))[1]["data"] == []
    shown = await kernel.show(f"panel.name_input.value = {pasted[:64]!r}")
    assert shown["form"]["count"] == "64/64 characters"


async def test_create_with_no_permission_is_refused(kernel):
    shown = await kernel.show(
        "panel = KeysPanel()\npanel.new_button.click()\npanel.name_input.value = 'none'\n"
        "for box in panel.scope_boxes.values(): box.value = False\n"
        "panel.create_button.click()"
    )
    assert "scope" in shown["message"] and shown["oneTime"] is None and shown["rows"] == {}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestUpstreamDown:
    @pytest.fixture
    def upstream_config(self):
        return {"upstream_url": f"http://127.0.0.1:{closed_port()}"}

    async def test_errors_are_messages(self, kernel):
        shown = await kernel.show("panel = KeysPanel()")
        assert "refused the connection" in shown["message"]
        assert "Traceback" not in shown["message"]
        assert shown["rows"] == {} and shown["title"] == "qBraid API keys · 0 keys"
        shown = await kernel.show("panel.new_button.click()")
        assert "refused the connection" in shown["message"] and shown["form"] is None
        shown = await kernel.show("panel.refresh_button.click()")
        assert "refused the connection" in shown["message"]


async def test_no_server_found_is_a_message(kernel):
    shown = await kernel.show(
        f"os.environ['QBRAID_KEYS_SERVER_URL'] = 'http://127.0.0.1:{closed_port()}/'\n"
        "p2 = KeysPanel()",
        panel="p2",
    )
    assert shown["message"].startswith("The qBraid key service at http://127.0.0.1:")
    assert shown["rows"] == {}


async def test_many_keys_are_paged_and_filtered(kernel):
    shown = await kernel.show(
        "keys = [dict(id=f'key_{i:016x}', name=f'k{i:04}', hint='qbr_0000…0000', scopes=[],"
        " status='active', createdAt='2020-01-01T00:00:00Z', rotatedAt=None, lastUsedAt=None,"
        " usage={'total': 0, 'daily': []}, stored=False) for i in range(1000)]\n"
        "panel = KeysPanel(keys, page_size=20)"
    )
    assert shown["pager"] == "1–20 of 1000" and len(shown["rows"]) == 20
    row = shown["rows"]["k0000"]["summary"]
    assert "older than 90 days: regenerate it" in row and "never used in 30 days" in row
    shown = await kernel.show("panel.next_button.click()")
    assert shown["pager"] == "21–40 of 1000" and next(iter(shown["rows"])) == "k0020"
    shown = await kernel.show("panel.filter_input.value = 'k099'")
    assert shown["pager"] == "1–10 of 10" and next(iter(shown["rows"])) == "k0990"
    assert await kernel.ask("len(_instances) < 600") is True


async def test_server_pages_and_search(kernel, keys_api, extension):
    """From the server: a page at a time (never the whole account), searched by the server."""
    await extension.ensure_upstream()
    store = extension.embedded.store
    create_many(store, (f"bulk{i:03}" for i in range(60)))
    shown = await kernel.show("panel = KeysPanel(page_size=25)")
    assert shown["pager"] == "1–25 of 60" and next(iter(shown["rows"])) == "bulk059"
    assert shown["title"].endswith("60 keys")
    assert await kernel.ask("len(panel.key_list.all_keys)") == 25
    shown = await kernel.show("panel.next_button.click()")
    assert shown["pager"] == "26–50 of 60" and next(iter(shown["rows"])) == "bulk034"
    shown = await kernel.show("panel.next_button.click()")
    assert shown["pager"] == "51–60 of 60" and list(shown["rows"])[-1] == "bulk000"
    assert await kernel.ask("panel.next_button.disabled") is True
    shown = await kernel.show("panel.prev_button.click()")
    assert shown["pager"] == "26–50 of 60"
    shown = await kernel.show("panel.filter_input.value = 'BULK00'")
    assert shown["pager"] == "1–10 of 10" and next(iter(shown["rows"])) == "bulk009"
    shown = await kernel.show("panel.filter_input.value = 'nothing-like-it'")
    assert shown["rows"] == {} and shown["empty"] == "No key matches the filter."
    shown = await kernel.show("panel.filter_input.value = ''")
    assert shown["pager"] == "1–25 of 60" and shown["message"] == ""


async def test_magic_shows_the_panel(kernel, keys_api):
    await make_key(keys_api, "ci")
    assert await kernel.run("%load_ext qbraid_keys_ext\n%qbraid_key panel") == ""
    [shown] = kernel.displayed
    model = shown["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert shown["text/plain"] == "qBraid API keys panel (1 key)"
    summary = await kernel.ask(f"_instances[{model!r}].describe()['rows']['ci']['summary']")
    assert summary.startswith("ci qbr_")


async def test_key_revoked_elsewhere(kernel, keys_api, extension):
    key = await make_key(keys_api, "ci")
    await kernel.run("panel = KeysPanel()")
    extension.embedded.store.delete(key["id"])  # outside this Lab: no event reaches the panel
    shown = await kernel.show("panel.row('ci').status_button.click()")
    assert shown["message"] == (
        "Deactivating 'ci' failed: the key no longer exists (it was revoked elsewhere). "
        "Reload the list."
    )
    shown = await kernel.show("panel.refresh_button.click()")
    assert shown["rows"] == {} and shown["message"] == ""


async def test_panel_follows_changes_made_elsewhere_in_this_lab(kernel, keys_api):
    """Created, rotated, deactivated, revoked over REST: an idle panel shows each, live."""
    import asyncio
    import time

    async def shown_when(check, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10  # the target is 2 s; bench/ measures it
        while True:
            shown = await kernel.show()
            if check(shown):
                return shown
            assert time.monotonic() < deadline, f"the panel did not show {what}: {shown}"
            await asyncio.sleep(0.2)

    await kernel.run("panel = KeysPanel()")
    key = await make_key(keys_api, "live")
    await shown_when(lambda s: "live" in s["rows"], "the new key")
    await kernel.run("panel.row('live').details_button.click()")

    code, answer = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert code == 200
    hint = answer["data"]["hint"]
    shown = await shown_when(lambda s: hint in s["rows"]["live"]["summary"], "the new hint")
    assert "History rotated" in shown["rows"]["live"]["details"]
    assert shown["rows"]["live"]["details"].count(" by ") == 2  # rotated, created

    await keys_api("PATCH", "api/v1/api-keys", key["id"], body={"status": "inactive"})
    await shown_when(lambda s: "inactive" in s["rows"]["live"]["summary"], "the new status")
    await keys_api("DELETE", "api/v1/api-keys", key["id"])
    await shown_when(lambda s: "live" not in s["rows"], "the revoke")
    assert not await kernel.ask("_holds_any_value()")
