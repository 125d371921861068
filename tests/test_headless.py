"""`%qbraid_key` with no Jupyter server (Contract 7, issue 16): nbconvert, papermill, nbclient.

The README's example notebook (`docs/ci/example.ipynb`: `%qbraid_key use ci`, then a qbraid-core
call) is executed by each runner with no Jupyter server, against a standalone key service
(`python -m qbraid_keys_ext.service` on a free loopback port), the value coming once from
`QBRAID_KEY_CI` (a CI secret) and once from this machine's keyring (stored there by
`qbraid-keys --url ... create ci`). No value may appear in the executed notebook. The same
notebook also runs in a kernel of a real Jupyter server.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.vault import FileKeyring, Vault

from .kernel_helpers import KernelSession, assert_absent
from .standalone import TOKEN, KeyServiceProcess, cli, machine_env, run

pytestmark = pytest.mark.timeout(300)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "ci" / "example.ipynb"
HIDDEN = "[qbraid key 'ci' hidden]"

NBCLIENT = """\
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=120, allow_errors=len(sys.argv) > 3).execute()
nbformat.write(nb, sys.argv[2])
"""

RUNNERS = {
    "nbconvert": lambda src, out: (
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", str(src), "--output", str(out)]
    ),
    "papermill": lambda src, out: ["papermill", str(src), str(out)],
    "nbclient": lambda src, out: [sys.executable, "-c", NBCLIENT, str(src), str(out)],
}


@pytest.fixture
def service(tmp_path):
    """A standalone key service in its own process, on a free loopback port."""
    started = KeyServiceProcess(tmp_path / "service").start()
    yield started
    started.stop()


@pytest.fixture
def machine(tmp_path, service) -> dict[str, str]:
    """This machine's environment: no Jupyter server, QBRAID_API_URL = the service."""
    return machine_env(tmp_path / "machine", service.api_url)


def text_of(outputs: list[dict]) -> str:
    """The text an executed cell showed (streams, results, errors)."""
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
        else:
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


@pytest.mark.parametrize("source", ["environment", "keyring"])
@pytest.mark.parametrize("runner", list(RUNNERS))
def test_example_notebook_runs_headless(runner, source, tmp_path, service, machine, leak_registry):
    if source == "keyring":
        made = cli(
            "--url", service.url, "create", "ci", env=machine | {"QBRAID_ACCESS_TOKEN": TOKEN}
        )
        assert made.code == 0, made.stderr
        value = made.stdout.strip()
        env, where = machine, "this machine's keyring"
    else:
        value = service.create("ci")["value"]
        env, where = machine | {"QBRAID_KEY_CI": value}, "QBRAID_KEY_CI"
    leak_registry.add_values(value)
    hint = keyformat.hint(value)
    before = service.key("ci")["usage"]["total"]

    out = tmp_path / "executed.ipynb"
    done = run(RUNNERS[runner](EXAMPLE, out), env, cwd=tmp_path)
    assert done.code == 0, done.stderr[-3000:]
    assert_absent(value, done.stdout + done.stderr, f"{runner}'s output")

    raw = out.read_text()
    leak_registry.add_path(out)
    assert_absent(value, raw, f"the notebook executed by {runner}")
    nb = nbformat.reads(raw, as_version=4)
    used, called = (text_of(cell.outputs) for cell in nb.cells[1:3])
    assert used.strip() == (
        f"Using qBraid API key 'ci' ({hint}) in this kernel, from {where}; "
        f"checked at {service.url}."
    )
    assert called.strip() == "qBraid authenticated this notebook with key 'ci'"
    assert service.key("ci")["usage"]["total"] >= before + 2  # the check, then qbraid-core


CELLS = [
    "%load_ext qbraid_keys_ext",
    "%qbraid_key status",
    "%qbraid_key use nope",
    "%qbraid_key use bad",
    "%qbraid_key use typo",
    "%qbraid_key use revoked",
    "%qbraid_key use off",
    "%qbraid_key use ci",
    "import os\nprint(os.environ['QBRAID_API_KEY'])\nos.environ['QBRAID_API_KEY']",
    "%qbraid_key current",
    "%qbraid_key list",
    "%qbraid_key clear\nprint(os.environ.get('QBRAID_API_KEY'))",
    "from qbraid_keys_ext.kernel import add_key\n"
    "print(add_key('extra', read=lambda prompt: os.environ.pop('EXTRA_VALUE')))",
    "%qbraid_key use extra",
    "os.environ['QBRAID_API_URL'] = 'http://127.0.0.1:9/api/v1'\n%qbraid_key use lost",
    "%qbraid_key current",
    "%qbraid_key use lab-only",
]


def test_headless_commands_errors_and_hiding(tmp_path, service, machine, leak_registry):
    """status, list, current, clear, add and every failure, in one kernel run by nbclient."""
    made = cli("--url", service.url, "create", "ci", env=machine | {"QBRAID_ACCESS_TOKEN": TOKEN})
    assert made.code == 0, made.stderr
    value = made.stdout.strip()
    revoked = service.create("revoked")["value"]
    service.request("DELETE", f"api-keys/{service.key('revoked')['id']}")
    off = service.create("off")
    service.request("PATCH", f"api-keys/{off['id']}", {"status": "inactive"})
    extra = service.create("extra")["value"]
    typo = value[:-1] + ("0" if value[-1] != "0" else "1")
    lost = keyformat.generate()  # a well-formed value no service knows
    leak_registry.add_values(value, revoked, off["value"], extra, lost)
    env = machine | {
        "QBRAID_KEY_BAD": "qbr_nothex",
        "QBRAID_KEY_TYPO": typo,
        "QBRAID_KEY_REVOKED": revoked,
        "QBRAID_KEY_OFF": off["value"],
        "QBRAID_KEY_LOST": lost,
        "EXTRA_VALUE": extra,
    }
    lab_only = keyformat.generate()  # stored by a Lab on the embedded service, say
    leak_registry.add_values(lab_only)
    ring = FileKeyring(machine["QBRAID_KEYS_KEYRING_FILE"])
    Vault("embedded", ring).store("key_lab", lab_only, "lab-only")
    src = tmp_path / "commands.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, src)
    out = tmp_path / "commands-executed.ipynb"
    done = run([sys.executable, "-c", NBCLIENT, str(src), str(out), "allow-errors"], env)
    assert done.code == 0, done.stderr[-3000:]
    raw = out.read_text()
    leak_registry.add_path(out)
    for secret in (value, revoked, off["value"], extra, typo, lost, lab_only):
        assert_absent(secret, raw, "the executed notebook")
    cells = nbformat.reads(raw, as_version=4).cells
    shown = [text_of(cell.outputs) for cell in cells]
    errors = [[o for o in cell.outputs if o["output_type"] == "error"] for cell in cells]

    status = shown[1]
    assert "Jupyter server: not found (" in status
    assert f"Upstream: key API at {service.url} (from QBRAID_API_URL; reachable)" in status
    assert "Keyring: qBraid keys file (" in status

    def failure(i: int, *parts: str) -> None:
        assert len(errors[i]) == 1 and len(errors[i][0]["traceback"]) == 1, CELLS[i]
        for part in parts:
            assert part in errors[i][0]["evalue"], (CELLS[i], errors[i][0]["evalue"])

    failure(
        2,
        "No qBraid API key 'nope' on this machine. Looked in this machine's keyring (",
        "no key named 'nope'",
        "the environment variable QBRAID_KEY_NOPE: not set",
        "a Jupyter server: none (",
    )
    failure(3, "QBRAID_KEY_BAD does not hold a qBraid API key value")
    failure(4, "QBRAID_KEY_TYPO holds a value with a typo")
    failure(5, f"{service.url} rejected the qBraid API key 'revoked' (", "QBRAID_KEY_REVOKED")
    failure(6, "is inactive at", "qbraid-keys activate off")
    hint = keyformat.hint(value)
    assert shown[7].strip() == (
        f"Using qBraid API key 'ci' ({hint}) in this kernel, from this machine's keyring; "
        f"checked at {service.url}."
    )
    assert shown[8] == f"{HIDDEN}\n'{HIDDEN}'"
    assert shown[9].strip() == f"This kernel uses qBraid API key 'ci' ({hint})."
    listing = shown[10].splitlines()
    assert listing[0].startswith("No Jupyter server: the qBraid API keys this kernel can use")
    assert listing[1].split() == ["NAME", "HINT", "FROM"]
    assert listing[2].split() == ["*", "ci", hint, "keyring"]
    assert ["typo", keyformat.hint(typo), "QBRAID_KEY_TYPO"] in [r.split() for r in listing]
    assert ["bad", "not", "a", "qbr_", "value", "QBRAID_KEY_BAD"] in [r.split() for r in listing]
    assert shown[11].splitlines() == ["Removed qBraid API key 'ci' from this kernel.", "None"]
    assert shown[12].startswith("Stored the value of qBraid API key 'extra'")
    assert "from this machine's keyring; checked at" in shown[13]
    assert shown[14].strip() == (
        f"Using qBraid API key 'lost' ({keyformat.hint(lost)}) in this kernel, from "
        "QBRAID_KEY_LOST; not checked: http://127.0.0.1:9 could not be reached."
    )
    assert shown[15].strip() == f"This kernel uses qBraid API key 'lost' ({keyformat.hint(lost)})."
    failure(16, "no key named 'lab-only' (there is one of a JupyterLab's embedded key service")


def test_plain_ipython(tmp_path, service, machine, leak_registry):
    """`ipython script.ipy`: the same magic in a terminal IPython (no kernel, no server)."""
    value = service.create("ci")["value"]
    leak_registry.add_values(value)
    script = tmp_path / "job.ipy"
    script.write_text(
        "%load_ext qbraid_keys_ext\n%qbraid_key use ci\n"
        "from qbraid_core import QbraidSessionV1\n"
        "print(QbraidSessionV1().get_user_auth_metadata()['apiKey']['name'])\n"
        "%qbraid_key clear\n"
    )
    done = run(
        ["ipython", "--no-banner", "--colors=NoColor", str(script)],
        machine | {"QBRAID_KEY_CI": value},
    )
    assert done.code == 0, done.stderr[-2000:]
    assert_absent(value, done.stdout + done.stderr, "IPython's output")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines == [
        f"Using qBraid API key 'ci' ({keyformat.hint(value)}) in this kernel, from QBRAID_KEY_CI; "
        f"checked at {service.url}.",
        "ci",
        "Removed qBraid API key 'ci' from this kernel.",
    ]


async def test_example_notebook_runs_in_lab_too(jp_serverapp, keys_api, leak_registry, tmp_path):
    """The very same cells in a kernel of a real Jupyter server (the key from the Lab)."""
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "ci"})
    assert code == 201
    value = created["data"]["value"]
    nb = nbformat.read(EXAMPLE, as_version=4)
    async with KernelSession(jp_serverapp) as kernel:
        runs = [await kernel.execute(cell.source) for cell in nb.cells if cell.cell_type == "code"]
        assert all(r.ok for r in runs), [r.error_text for r in runs]
        assert (
            runs[0].stdout
            == f"Using qBraid API key 'ci' ({created['data']['hint']}) in this kernel.\n"
        )
        assert runs[1].stdout == "qBraid authenticated this notebook with key 'ci'\n"
        assert_absent(value, kernel.raw_text(), "the kernel's messages")
        leak_registry.record("lab kernel running docs/ci/example.ipynb", kernel.raw_text())


def test_example_notebook_is_clean():
    """The example in the repository is saved without outputs (what a user copies)."""
    nb = nbformat.read(EXAMPLE, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "%qbraid_key use ci" in nb.cells[1].source
    assert shutil.which("papermill", path=str(Path(sys.executable).parent)), "papermill missing"
    assert json.loads(EXAMPLE.read_text())["metadata"]["kernelspec"]["name"] == "python3"
