"""Quantum jobs from a notebook (Contract 5): the real qBraid SDK in a real kernel, started by
the real Jupyter server, runs jobs on its embedded key service with the key `%qbraid_key use`
chose, with another key in ~/.qbraid/qbraidrc and no `api_key=` anywhere."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from qbraid_keys_ext.service import keyformat

from .kernel_helpers import KernelSession, assert_absent
from .test_magic import create, key_named, other_qbraidrc  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[1]
SDK_TIMEOUT = 180.0  # importing qbraid and qiskit, and starting the simulator, on a busy machine
AER = "qbraid:qiskit:sim:aer-simulator"
BELL3 = (
    'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; bit[2] c; h q[0]; cx q[0], q[1]; '
    "c = measure q;"
)
SETUP = f"""
import json
from qbraid.runtime import QbraidProvider
from qiskit import QuantumCircuit
bell = QuantumCircuit(2); bell.h(0); bell.cx(0, 1); bell.measure_all()
AER = {AER!r}
"""

PANEL_USAGE = """
import re, time
from qbraid_keys_ext import KeysPanel

panel = KeysPanel()

def usage_shown(at_least):
    for _ in range(100):
        row = panel.row("ci")
        if row.details is not None:
            panel.actions.toggle_details(row)  # close
        panel.actions.toggle_details(row)  # open: fetches the key's details
        total = int(re.search(r"(\\d+) in total", panel.row("ci").describe()["details"])[1])
        if total >= at_least:
            return total
        time.sleep(0.2)
    return total

first = usage_shown(10)
device.run(bell, shots=10).result()
print(json.dumps([first, usage_shown(first + 3)]))
"""


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path, monkeypatch):
    """Our file keyring in this test's folder (set before the server starts)."""
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "file")
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(tmp_path / "keyring" / "keyring.json"))
    return jp_server_config


async def test_sdk_runs_qiskit_and_qasm3_jobs_with_the_used_key(
    jp_serverapp,
    keys_api,
    other_qbraidrc,  # noqa: F811
):
    key = await create(
        keys_api, "ci", scopes=["devices:read", "jobs:read", "jobs:write", "credits:read"]
    )
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use ci")
        assert run.ok, run.error_text
        run = await kernel.execute(
            SETUP
            + f"""
provider = QbraidProvider()
before = provider.client.get_credits_balance()["qbraidCredits"]
devices = [d.id for d in provider.get_devices()]
device = provider.get_device(AER)
job = device.run(bell, shots=200)
counts = job.result().data.get_counts()
qasm3 = device.run({BELL3!r}, shots=300).result().data.get_counts()
from qbraid_core.services.runtime.schemas import Program
bad = device.submit(Program(format="qasm3", data="OPENQASM 3.0; garbage"), shots=10)
failed = bad.result()
after = provider.client.get_credits_balance()["qbraidCredits"]
print(json.dumps({{
    "devices": devices, "counts": counts, "qasm3": qasm3,
    "status": str(job.status().name), "failed": bad.status().name,
    "message": bad.status().status_message, "failedOk": failed.success,
    "spent": round(before - after, 6),
    "keyIds": [j.metadata.get("keyId") for j in provider.client.list_jobs()],
}}))
""",
            timeout=SDK_TIMEOUT,
        )
        assert run.ok, run.error_text
        seen = json.loads(run.stdout)
        assert seen["devices"] == [AER]
        assert set(seen["counts"]) <= {"00", "11"} and sum(seen["counts"].values()) == 200
        assert set(seen["qasm3"]) <= {"00", "11"} and sum(seen["qasm3"].values()) == 300
        assert seen["status"] == "COMPLETED"
        assert seen["failed"] == "FAILED" and "does not parse" in seen["message"]
        assert seen["failedOk"] is False
        # 0.1 per job + 0.0001 per shot, for the two jobs that ran
        assert seen["spent"] == pytest.approx(0.1 + 0.02 + 0.1 + 0.03)
        assert seen["keyIds"] == [key["id"]] * 3

        # the keys panel's details show the usage growing as jobs run (usage is flushed in
        # batches, every 2 s: wait for each job's uses to be written)
        run = await kernel.execute(PANEL_USAGE, timeout=SDK_TIMEOUT)
        assert run.ok, run.error_text
        totals = json.loads(run.stdout)
        assert totals[0] >= 10 and totals[1] > totals[0], totals
        assert_absent(key["value"], kernel.raw_text(), "the kernel's messages")
    usage = (await key_named(keys_api, "ci"))["usage"]  # what the sidebar reads
    assert usage["total"] >= totals[1], usage


async def test_a_key_without_the_scope_gets_one_line(jp_serverapp, keys_api):
    await create(keys_api, "reader", scopes=["devices:read", "jobs:read"])
    await create(keys_api, "blind", scopes=["jobs:read", "jobs:write"])
    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext\n%qbraid_key use reader")
        assert run.ok, run.error_text
        run = await kernel.execute(
            SETUP + "device = QbraidProvider().get_device(AER)\ndevice.run(bell, shots=10)",
            timeout=SDK_TIMEOUT,
        )
        content = run.reply["content"]
        assert content["status"] == "error"
        [line] = content["traceback"]
        assert "'reader'" in line and "jobs:write" in line and "%qbraid_key use" in line, line
        assert line.startswith("qBraid API key 'reader' was refused: Failed to create job: ")
        errors = [m for m in run.iopub if m["msg_type"] == "error"]
        assert [m["content"]["traceback"] for m in errors] == [[line]]

        run = await kernel.execute("%qbraid_key use blind\nQbraidProvider().get_devices()")
        [line] = run.reply["content"]["traceback"]
        assert "'blind'" in line and "devices:read" in line, line

        # other errors, from qBraid or not, keep their tracebacks
        run = await kernel.execute("QbraidProvider(api_key='qbr_' + '0' * 64).get_devices()")
        assert run.reply["content"]["status"] == "error"
        assert len(run.reply["content"]["traceback"]) > 1
        run = await kernel.execute("1 / 0")
        assert run.reply["content"]["ename"] == "ZeroDivisionError"
        assert len(run.reply["content"]["traceback"]) > 1


async def test_binder_demo_runs_a_bell_job_with_a_key_it_creates(jp_serverapp, keys_api):
    notebook = json.loads((REPO / "binder" / "demo.ipynb").read_text())
    cells = [
        "".join(c["source"])
        for c in notebook["cells"]
        if "jobs-demo" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(cells) == 3
    async with KernelSession(jp_serverapp) as kernel:
        assert (await kernel.execute("%load_ext qbraid_keys_ext")).ok  # section 1's first cell
        runs = [await kernel.execute(cell, timeout=SDK_TIMEOUT) for cell in cells]
        for run in runs:
            assert run.ok, run.error_text
        assert runs[0].stdout.startswith("Created API key 'bell' (qbr_")
        assert "Using qBraid API key 'bell'" in runs[1].stdout
        counts = ast.literal_eval(runs[1].stdout.split("counts: ")[1].splitlines()[0])
        assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
        assert "credits left: 999.8" in runs[1].stdout  # 1,000 - (0.1 + 1,000 x 0.0001)
        [result] = [m for m in runs[2].iopub if m["msg_type"] == "execute_result"]
        counts = ast.literal_eval(result["content"]["data"]["text/plain"])
        assert set(counts) <= {"00", "11"} and sum(counts.values()) == 500
        # run again: the key exists, nothing is created
        rerun = await kernel.execute(cells[0])
        assert rerun.ok and rerun.stdout == ""
        text = kernel.raw_text()
    key = await key_named(keys_api, "bell")
    assert key["scopes"] == ["devices:read", "jobs:read", "jobs:write", "credits:read"]
    assert not keyformat.find_valid_keys(text)  # no value in anything the kernel sent
