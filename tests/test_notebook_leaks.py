"""Issue 3 "Done when": a real notebook in a real kernel under the real server leaks no value.

Create `ci` through the routes, `%load_ext`, `%qbraid_key use ci`, then print the value,
end a cell with it, raise with it, display it as HTML (and other text-like types), echo it
from a subprocess; then qbraid-core verification. No message the kernel sent and no
notebook saved through the contents API holds the value; verification succeeded as `ci`;
`ci`'s usage moved. Runs on the file backend and on a real Secret Service where installable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import nbformat
import pytest

from qbraid_keys_ext.presave import PLACEHOLDER
from qbraid_keys_ext.service import keyformat

from .kernel_helpers import KernelSession, assert_absent
from .keyring_env import keyring_backend  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)

HIDDEN = "[qbraid key 'ci' hidden]"
USER_HOOK_CALLS: list[str] = []


def user_pre_save_hook(model, path, contents_manager, **kwargs):
    """A pre-save hook 'the user configured': it must keep running next to ours."""
    USER_HOOK_CALLS.append(path)


@pytest.fixture
def jp_server_config(jp_server_config, keyring_backend):  # noqa: F811
    """The conftest server, the keyring variant, and a user's own pre-save hook."""
    config = dict(jp_server_config)
    config["ContentsManager"] = {"pre_save_hook": f"{__name__}.user_pre_save_hook"}
    return config


@pytest.fixture
def other_qbraidrc(jp_home_dir) -> Path:
    """~/.qbraid/qbraidrc with a different valid-format key and an access token."""
    rc = Path(jp_home_dir) / ".qbraid" / "qbraidrc"
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text(f"[default]\napi-key = {keyformat.generate()}\naccess-token = some-other-token\n")
    return rc


CELLS = [
    "%load_ext qbraid_keys_ext",
    "%qbraid_key use ci",
    'import os, sys\nprint(os.environ["QBRAID_API_KEY"])',
    'print("stderr:", os.environ["QBRAID_API_KEY"], file=sys.stderr)',
    'os.environ["QBRAID_API_KEY"]',
    'raise ValueError("the key is " + os.environ["QBRAID_API_KEY"])',
    "from IPython.display import HTML, Markdown, JSON, Latex, display\n"
    'v = os.environ["QBRAID_API_KEY"]\n'
    'display(HTML(f"<b>{v}</b>"))\n'
    'display(Markdown(f"**{v}**"), Latex(f"$\\\\text{{{v}}}$"), JSON({"key": v, v: 1}))',
    "!echo from a subprocess: $QBRAID_API_KEY",
    "from qbraid_core import QbraidClientV1\n"
    "client = QbraidClientV1()\n"
    'print("verified as", client._user_metadata["apiKey"]["name"])',
]


async def test_value_never_leaves_the_kernel_or_reaches_the_saved_notebook(
    jp_serverapp, jp_fetch, jp_root_dir, keys_api, other_qbraidrc, caplog
):
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    assert code == 201
    key = created["data"]
    value = key["value"]
    assert key["stored"] is True

    notebook = nbformat.v4.new_notebook()
    async with KernelSession(jp_serverapp) as kernel:
        runs = []
        for source in CELLS:
            run = await kernel.execute(source)
            runs.append(run)
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = run.outputs
            notebook.cells.append(cell)
        raw = kernel.raw_text()

    assert_absent(value, raw, "the messages the kernel sent")
    for i, run in enumerate(runs):
        if i == 5:
            assert run.reply["content"]["status"] == "error"
            assert HIDDEN in run.reply["content"]["evalue"]
            assert any(HIDDEN in line for line in run.reply["content"]["traceback"])
        else:
            assert run.ok, f"cell {i} failed: {run.reply['content'].get('evalue')}"
    assert runs[1].stdout == f"Using qBraid API key 'ci' ({key['hint']}) in this kernel.\n"
    assert runs[2].stdout == HIDDEN + "\n"
    assert HIDDEN in runs[3].stderr
    assert runs[4].outputs[0]["data"]["text/plain"] == f"'{HIDDEN}'"
    shown = [o["data"] for o in runs[6].outputs]
    assert shown[0]["text/html"] == f"<b>{HIDDEN}</b>"
    assert HIDDEN in shown[1]["text/markdown"] and HIDDEN in shown[2]["text/latex"]
    assert shown[3]["application/json"] == {"key": HIDDEN, HIDDEN: 1}
    assert runs[7].stdout.strip() == f"from a subprocess: {HIDDEN}"
    assert runs[8].stdout == "verified as ci\n"

    # An output that still holds the value (e.g. made before `use`, or by another kernel).
    stale = nbformat.v4.new_code_cell("print(old_key)")
    stale.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{value}\n")]
    notebook.cells.append(stale)
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook})
    caplog.set_level(logging.WARNING)
    USER_HOOK_CALLS.clear()
    response = await jp_fetch("api", "contents", "leak.ipynb", method="PUT", body=body)
    assert response.code in (200, 201)

    on_disk = (Path(jp_root_dir) / "leak.ipynb").read_text()
    assert_absent(value, on_disk, "the saved notebook")
    assert HIDDEN in on_disk and PLACEHOLDER in on_disk
    nbformat.validate(nbformat.reads(on_disk, as_version=4))
    reread = await jp_fetch("api", "contents", "leak.ipynb")
    assert_absent(value, reread.body.decode(), "the notebook read back")
    assert USER_HOOK_CALLS == ["leak.ipynb"], "the user's pre_save_hook must still run"
    warnings = [r.getMessage() for r in caplog.records if "qBraid keys: removed" in r.getMessage()]
    assert warnings and "leak.ipynb" in warnings[0]
    for record in caplog.records:
        assert_absent(value, record.getMessage(), "the server log")

    for _ in range(50):  # the embedded service flushes usage in batches
        _, details = await keys_api("GET", "api/v1/api-keys", key["id"])
        if details["data"]["lastUsedAt"]:
            break
        await asyncio.sleep(0.2)
    assert details["data"]["lastUsedAt"] is not None
    assert details["data"]["usage"]["total"] >= 1


def test_pre_save_hook_scrubs_only_valid_keys_in_outputs():
    from qbraid_keys_ext.presave import pre_save_hook

    value = keyformat.generate()
    bad = value[:-1] + ("0" if value[-1] != "0" else "1")  # checksum fails: not a key
    cell = nbformat.v4.new_code_cell("key = load()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=[f"a {value}\n", "b\n"]),
        nbformat.v4.new_output(
            "display_data", data={"text/html": f"<i>{value}</i>", "application/json": {value: 1}}
        ),
        nbformat.v4.new_output("error", ename="E", evalue=value, traceback=[f"x {value}"]),
        nbformat.v4.new_output("stream", name="stdout", text=bad),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell(value)])
    model = {"type": "notebook", "content": notebook}
    pre_save_hook(model=model, path="n.ipynb", contents_manager=None)
    text = json.dumps(model["content"]["cells"][0]["outputs"])
    assert_absent(value, text, "the scrubbed outputs")
    assert text.count(PLACEHOLDER) == 5 and bad in text
    assert model["content"]["cells"][1]["source"] == value  # not an output: left as written
    nbformat.validate(nbformat.from_dict(model["content"]))

    plain = {"type": "file", "format": "text", "content": value}
    pre_save_hook(model=plain, path="notes.txt", contents_manager=None)
    assert plain["content"] == value
