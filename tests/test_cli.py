"""The `qbraid-keys` command (Contract 7, issue 16), run as a real process.

Every command against a running Jupyter server (pytest-jupyter's, found through its runtime
file as `jupyter server list` finds it) and against `--url` (a standalone key service in its
own process), with the error cases: unknown name, service down, bad token. The README's "In
CI" workflows are run word for word (qBraid's URL replaced by the local service's), with a
stand-in `gh` whose secret store lives outside the test's folders.

Never print a key value from a test: use `assert_absent`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
import yaml

from qbraid_keys_ext import cli
from qbraid_keys_ext.service import keyformat
from qbraid_keys_ext.vault import FileKeyring, Vault

from .bulk import create_many
from .kernel_helpers import assert_absent
from .lab_server import free_port
from .standalone import BIN, QBRAID_KEYS, TOKEN, KeyServiceProcess, Result, machine_env, run
from .standalone import cli as run_cli

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["list", "create", "rotate", "revoke", "activate", "deactivate", "status", "exec"]
WHO = (
    "import os\nfrom qbraid_core import QbraidSessionV1\n"
    "who = QbraidSessionV1().get_user_auth_metadata()\n"
    "print(who['apiKey']['name'], os.environ.get('QBRAID_API_URL'))"
)
FAKE_GH = """\
#!{python}
# A stand-in for `gh secret set NAME --repo OWNER/REPO`: stores stdin (trailing newlines cut,
# as gh does) in $FAKE_SECRET_STORE/NAME.
import os, sys
args = sys.argv[1:]
assert args[:2] == ["secret", "set"] and len(args) >= 3, args
name = args[2]
body = sys.stdin.read().rstrip("\\r\\n")
with open(os.path.join(os.environ["FAKE_SECRET_STORE"], name), "w") as out:
    out.write(body)
"""


def one_line_error(result: Result, *parts: str, code: int = 1) -> None:
    """The command failed with `code` and said why in one line on stderr, nothing on stdout."""
    assert result.code == code, (result.code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def fake_gh(folder: Path) -> Path:
    """A `gh` on PATH (in `folder`) that writes secrets to $FAKE_SECRET_STORE."""
    folder.mkdir(parents=True, exist_ok=True)
    gh = folder / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(0o755)
    return folder


# -- against a running Jupyter server ----------------------------------------------------


@pytest.fixture
def file_keyring(monkeypatch, tmp_path) -> Path:
    """Our file keyring in this test's folder, set before the server starts."""
    path = tmp_path / "keyring" / "keyring.json"
    monkeypatch.setenv("QBRAID_KEYS_KEYRING", "file")
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(path))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    return path


@pytest.fixture
def jp_server_config(jp_server_config, file_keyring):
    return jp_server_config


@pytest.fixture
def here(jp_environ) -> dict[str, str]:
    """A terminal on the machine of the running server (its runtime dir, keyring, HOME)."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    for name in list(env):
        if name.startswith("QBRAID_KEY_") or name in (
            "QBRAID_ACCESS_TOKEN",
            "QBRAID_API_URL",
            "QBRAID_KEYS_SERVER_URL",
            "QBRAID_KEYS_SERVER_TOKEN",
            "JPY_PARENT_PID",
        ):
            del env[name]
    return env


async def acli(*args: str, env: dict[str, str], shell: str | None = None) -> Result:
    """Run `qbraid-keys ARGS` (or a bash line) without blocking the in-process server's loop."""
    cmd = ["bash", "-eo", "pipefail", "-c", shell] if shell else [QBRAID_KEYS, *args]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return Result(proc.returncode, out.decode(), err.decode())


def readme_one_liner() -> str:
    """The README's terminal rotation, `qbraid-keys rotate ci | gh secret set QBRAID_KEY_CI`."""
    found = re.search(r"`(qbraid-keys rotate ci \| gh secret set QBRAID_KEY_CI)`", readme())
    assert found, "the README lost its one-line rotation"
    return found.group(1)


async def test_every_command_through_a_running_server(
    jp_serverapp, keys_api, here, file_keyring, leak_registry, tmp_path
):
    values: list[str] = []

    def clean(result: Result, where: str) -> None:
        for value in values:
            assert_absent(value, result.stdout + result.stderr, where)

    status = await acli("status", env=here)
    assert status.code == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("Jupyter server: http://") and "a%40b/" in lines[0]
    assert lines[1].startswith("Upstream: embedded key service at http://127.0.0.1:")
    assert lines[1].endswith("(reachable)")
    assert lines[2].startswith(f"Keyring: qBraid keys file ({file_keyring}")
    listed = await acli("list", env=here)
    assert listed.code == 0 and "no qBraid API keys yet" in listed.stdout

    made = await acli("create", "ci", "--scope", "jobs:write", "--scope", "devices:read", env=here)
    assert made.code == 0, made.stderr
    value = made.stdout.removesuffix("\n")
    values.append(value)
    leak_registry.add_values(value)
    assert keyformat.has_valid_checksum(value) and "\n" not in value
    hint = keyformat.hint(value)
    assert made.stderr == (
        f"qbraid-keys: Created qBraid API key 'ci' ({hint}); value stored in this machine's "
        "keyring.\n"
    )
    vault = Vault("embedded")
    found = vault.named("ci")
    assert found and found[1]["hint"] == hint and vault.fetch(found[0]) == value

    other = await acli("create", "other", "--no-store", "--json", env=here)
    assert other.code == 0, other.stderr
    other_key = json.loads(other.stdout)
    values.append(other_key["value"])
    leak_registry.add_values(other_key["value"])
    assert other_key["stored"] is False and other_key["name"] == "other"
    assert vault.named("other") is None

    listed = await acli("list", "--json", env=here)
    keys = {k["name"]: k for k in json.loads(listed.stdout)}
    assert keys["ci"]["stored"] is True and keys["other"]["stored"] is False
    assert sorted(keys["ci"]["scopes"]) == ["devices:read", "jobs:write"]
    assert not any("value" in k for k in keys.values())
    listed = await acli("list", env=here)
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:3] == ["NAME", "HINT", "STATUS"] and rows[0][-2:] == ["STORED", "HERE"]
    assert ["ci", hint, "active"] in [row[:3] for row in rows]
    clean(listed, "qbraid-keys list")

    rotated = await acli("rotate", "ci", env=here)
    assert rotated.code == 0, rotated.stderr
    new_value = rotated.stdout.strip()
    values.append(new_value)
    leak_registry.add_values(new_value)
    assert new_value != value and vault.fetch(found[0]) == new_value
    assert vault.named("ci")[1]["hint"] == keyformat.hint(new_value)
    assert "Regenerated qBraid API key 'ci'" in rotated.stderr
    assert_absent(new_value, rotated.stderr, "rotate's stderr")
    rotated = await acli("rotate", "other", "--no-store", "--json", env=here)
    assert json.loads(rotated.stdout)["stored"] is False
    values.append(json.loads(rotated.stdout)["value"])
    leak_registry.add_values(values[-1])

    off = await acli("deactivate", "ci", env=here)
    assert off.stdout.startswith("Deactivated qBraid API key 'ci'")
    assert (await keys_api("GET", "api/v1/api-keys", found[0]))[1]["data"]["status"] == "inactive"
    one_line_error(await acli("exec", "ci", "--", "true", env=here), "inactive")
    on = await acli("activate", "ci", "--json", env=here)
    assert json.loads(on.stdout)["status"] == "active"

    used = await acli("exec", "ci", "--", sys.executable, "-c", WHO, env=here)
    assert used.code == 0, used.stderr
    name, url = used.stdout.split()
    assert name == "ci" and url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
    clean(used, "exec's output")
    assert (await acli("exec", "ci", "--", sys.executable, "-c", "exit(7)", env=here)).code == 7

    with tempfile.TemporaryDirectory(prefix="qbraid-keys-secrets-") as store:
        env = here | {"PATH": f"{fake_gh(tmp_path / 'gh')}{os.pathsep}{here['PATH']}"}
        piped = await acli(env=env | {"FAKE_SECRET_STORE": store}, shell=readme_one_liner())
        assert piped.code == 0, piped.stderr
        secret = (Path(store) / "QBRAID_KEY_CI").read_text()
    values.append(secret)
    leak_registry.add_values(secret)
    assert keyformat.has_valid_checksum(secret) and vault.fetch(found[0]) == secret

    gone = await acli("revoke", "other", env=here)
    assert gone.code == 0 and gone.stdout.startswith("Revoked qBraid API key 'other'")
    one_line_error(await acli("revoke", "other", env=here), "no qBraid API key named 'other'")
    for command in ("rotate", "revoke", "activate", "deactivate"):
        one_line_error(
            await acli(command, "nope", env=here), "no qBraid API key named 'nope'", "'ci'"
        )
    one_line_error(await acli("exec", "nope", "--", "true", env=here), "named 'nope'")
    one_line_error(await acli("create", "ci", env=here), "ci")  # NAME_TAKEN


async def test_server_token_and_choice(jp_serverapp, keys_api, jp_http_port, jp_base_url, here):
    # (keys_api: pytest-jupyter serves on its port only for tests that fetch)
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    bad = here | {"QBRAID_KEYS_SERVER_URL": url, "QBRAID_KEYS_SERVER_TOKEN": "wrong"}
    one_line_error(await acli("list", env=bad), "refused the token", "QBRAID_KEYS_SERVER_TOKEN")
    one_line_error(await acli("status", env=bad), "refused the token")
    # --server names one of the running servers (127.0.0.1 for localhost); its token is found
    chosen = await acli("--server", url, "status", "--json", env=here)
    assert chosen.code == 0, chosen.stderr
    assert json.loads(chosen.stdout)["upstream"]["kind"] == "embedded"
    from jupyter_server.serverapp import list_running_servers

    found = [info["url"] for info in cli.running_servers()]
    assert found == [info["url"] for info in list_running_servers()]  # as `jupyter server list`
    assert len(found) == 1 and f":{jp_http_port}/" in found[0]


class TestUpstreamDown:
    """A Lab whose upstream does not answer: the command says so in one line."""

    @pytest.fixture
    def upstream_config(self):
        return {"upstream_url": f"http://127.0.0.1:{free_port()}", "timeout": 3.0}

    async def test_service_down_behind_the_server(self, jp_serverapp, keys_api, here):
        one_line_error(await acli("list", env=here), "refused the connection")
        one_line_error(await acli("rotate", "ci", env=here), "refused the connection")
        status = await acli("status", env=here)
        assert status.code == 1 and "(NOT reachable: " in status.stdout


def test_no_server_found(tmp_path):
    env = machine_env(tmp_path)
    one_line_error(run_cli("list", env=env), "No running Jupyter server", "--url ROOT")
    status = run_cli("status", env=env)
    assert status.code == 0
    assert status.stdout.startswith("Jupyter server: none running")


# -- against --url ---------------------------------------------------------------------


@pytest.fixture
def service(tmp_path):
    started = KeyServiceProcess(tmp_path / "service").start()
    yield started
    started.stop()


@pytest.fixture
def terminal(tmp_path, service) -> dict[str, str]:
    """A terminal with the account token, no Jupyter server."""
    return machine_env(tmp_path / "terminal") | {"QBRAID_ACCESS_TOKEN": TOKEN}


def keyring_of(env: dict[str, str], service: KeyServiceProcess) -> Vault:
    """The keyring the commands in `env` use, for the service's host."""
    host = service.url.split("://", 1)[1]
    return Vault(host, FileKeyring(env["QBRAID_KEYS_KEYRING_FILE"]))


def test_every_command_against_url(service, terminal, tmp_path, leak_registry):
    url = ["--url", service.url]
    status = run_cli(*url, "status", env=terminal)
    assert status.code == 0, status.stderr
    assert status.stdout.splitlines()[:2] == [
        "Jupyter server: not used (--url)",
        f"Upstream: key API at {service.url} (reachable)",
    ]
    made = run_cli(*url, "create", "ci", "--scope", "jobs:write", env=terminal)
    assert made.code == 0, made.stderr
    value = made.stdout.strip()
    leak_registry.add_values(value)
    vault = keyring_of(terminal, service)
    key_id = service.key("ci")["id"]
    assert vault.fetch(key_id) == value and vault.named("ci")[0] == key_id
    assert service.key("ci")["scopes"] == ["jobs:write"]

    listed = run_cli("list", *url, "--json", env=terminal)  # options after the command too
    assert [(k["name"], k["stored"]) for k in json.loads(listed.stdout)] == [("ci", True)]
    assert_absent(value, listed.stdout, "list --json")

    rotated = run_cli(*url, "rotate", "ci", "-y", env=terminal)
    new_value = rotated.stdout.strip()
    leak_registry.add_values(new_value)
    assert rotated.code == 0 and new_value != value and vault.fetch(key_id) == new_value
    assert vault.named("ci")[1]["hint"] == keyformat.hint(new_value)
    dropped = run_cli(*url, "rotate", "ci", "--no-store", env=terminal)
    leak_registry.add_values(dropped.stdout.strip())
    assert dropped.code == 0 and vault.fetch(key_id) is None  # the old value is dead: dropped
    assert "this is the only time it is shown" in dropped.stderr
    again = run_cli(*url, "rotate", "ci", env=terminal)
    leak_registry.add_values(again.stdout.strip())

    assert run_cli(*url, "deactivate", "ci", env=terminal).code == 0
    assert service.key("ci")["status"] == "inactive"
    one_line_error(run_cli(*url, "exec", "ci", "--", "true", env=terminal), "inactive")
    assert run_cli(*url, "activate", "ci", env=terminal).code == 0

    used = run_cli(*url, "exec", "ci", "--", sys.executable, "-c", WHO, env=terminal)
    assert used.code == 0, used.stderr
    assert used.stdout.split() == ["ci", service.api_url]
    digest = run_cli(
        *url,
        "exec",
        "ci",
        "--",
        sys.executable,
        "-c",
        "import os, hashlib; print(hashlib.sha256(os.environ['QBRAID_API_KEY'].encode())"
        ".hexdigest(), os.environ.get('QBRAID_ACCESS_TOKEN'))",
        env=terminal,
    )
    expected = hashlib.sha256(again.stdout.strip().encode()).hexdigest()
    assert digest.stdout.split() == [expected, "None"]  # the account token is not passed on

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    no_env_token = {k: v for k, v in terminal.items() if k != "QBRAID_ACCESS_TOKEN"}
    listed = run_cli(
        "--url", service.api_url, "--token-file", str(token_file), "list", env=no_env_token
    )
    assert listed.code == 0, listed.stderr

    gone = run_cli(*url, "revoke", "ci", "--json", env=terminal)
    assert json.loads(gone.stdout)["deleted"] is True
    assert vault.fetch(key_id) is None and vault.named("ci") is None
    assert run_cli(*url, "list", env=terminal).stdout.startswith("This account has no")


def test_url_errors(service, terminal, tmp_path):
    url = ["--url", service.url]
    run_cli(*url, "create", "ci", env=terminal)
    for command in ("rotate", "revoke", "activate", "deactivate"):
        one_line_error(run_cli(*url, command, "nope", env=terminal), "no qBraid API key named")
    one_line_error(run_cli(*url, "exec", "nope", "--", "true", env=terminal), "'nope'")

    wrong = terminal | {"QBRAID_ACCESS_TOKEN": "not-the-token"}
    one_line_error(
        run_cli(*url, "list", env=wrong), "refused the account token from $QBRAID_ACCESS_TOKEN"
    )
    one_line_error(run_cli(*url, "rotate", "ci", env=wrong), "refused the account token")
    status = run_cli(*url, "status", env=wrong)
    assert status.code == 1 and "token was refused" in status.stdout
    no_token = {k: v for k, v in terminal.items() if k != "QBRAID_ACCESS_TOKEN"}
    one_line_error(run_cli(*url, "list", env=no_token), "--url needs the account token")
    missing = tmp_path / "missing-token"
    one_line_error(run_cli(*url, "--token-file", str(missing), "list", env=no_token), "Cannot read")
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    one_line_error(run_cli(*url, "--token-file", str(empty), "list", env=no_token), "is empty")
    bad_file = tmp_path / "bad-token"
    bad_file.write_text("wrong")
    one_line_error(
        run_cli(*url, "--token-file", str(bad_file), "list", env=no_token), str(bad_file)
    )

    down = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["create", "x"], ["rotate", "ci"], ["exec", "ci", "--", "true"]):
        one_line_error(
            run_cli("--url", down, *args, env=terminal),
            "refused the connection",
            "--url points at it",
        )
    status = run_cli("--url", down, "status", env=terminal)
    assert status.code == 1 and "NOT reachable" in status.stdout
    one_line_error(run_cli("--url", "ftp://x", "list", env=terminal), "--url must be")


def test_help_and_usage_errors(tmp_path):
    env = machine_env(tmp_path)
    top = run_cli("--help", env=env)
    assert top.code == 0 and all(command in top.stdout for command in COMMANDS)
    for command in COMMANDS:
        shown = run_cli(command, "--help", env=env)
        assert shown.code == 0 and shown.stdout.startswith(f"usage: qbraid-keys {command}")
    via_jupyter = run([str(BIN / "jupyter"), "qbraid-keys", "--help"], env)
    assert via_jupyter.code == 0 and via_jupyter.stdout.startswith("usage: jupyter qbraid-keys")
    one_line_error(run_cli("create", env=env), "NAME", code=2)
    one_line_error(run_cli("frobnicate", env=env), "invalid choice", code=2)
    one_line_error(run_cli("exec", "ci", env=env), "Name the command", code=2)
    assert run_cli(env=env).code == 2


def test_exec_without_server_or_url(service, tmp_path, leak_registry):
    """No server, no --url: `exec` finds the key as a headless notebook does."""
    env = machine_env(tmp_path / "machine", service.api_url)
    made = run_cli("--url", service.url, "create", "ci", env=env | {"QBRAID_ACCESS_TOKEN": TOKEN})
    other = service.create("other")["value"]
    leak_registry.add_values(made.stdout.strip(), other)
    from_keyring = run_cli("exec", "ci", "--", sys.executable, "-c", WHO, env=env)
    assert from_keyring.code == 0, from_keyring.stderr
    assert from_keyring.stdout.split() == ["ci", service.api_url]
    from_env = run_cli(
        "exec", "other", "--", sys.executable, "-c", WHO, env=env | {"QBRAID_KEY_OTHER": other}
    )
    assert from_env.stdout.split() == ["other", service.api_url]
    one_line_error(
        run_cli("exec", "nope", "--", "true", env=env),
        "Looked in this machine's keyring",
        "QBRAID_KEY_NOPE: not set",
        "a Jupyter server: none running",
    )


# -- the README's "In CI" example ----------------------------------------------------------


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def ci_workflows() -> list[dict]:
    """The GitHub Actions workflows of the README's "In CI" section."""
    section = readme().split("\n## In CI\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the In CI section shows a notebooks and a rotation workflow"
    return [yaml.safe_load(block) for block in blocks]


def run_workflow(workflow: dict, secrets: dict[str, str], env: dict[str, str], cwd: Path) -> Result:
    """Run a workflow's `run` steps as GitHub Actions would (installs are already done here)."""
    done = Result(0, "", "")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run")
            if script is None:
                assert step["uses"].startswith(("actions/checkout@", "actions/setup-python@"))
                continue
            if script.startswith("pip install "):
                assert "qbraid-keys-ext" in script
                continue
            script = script.replace("https://api-v2.qbraid.com", env["QBRAID_TEST_UPSTREAM"])
            step_env = dict(env)
            for name, value in (step.get("env") or {}).items():
                step_env[name] = re.sub(
                    r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m: secrets[m.group(1)], str(value)
                )
            shell = (
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
                if step.get("shell") == "bash"
                else ["bash", "-e", "-c"]
            )
            done = run([*shell, script], step_env, cwd=cwd)
            if done.code != 0:
                return done
    return done


def test_readme_ci_example(service, tmp_path, leak_registry):
    notebooks, rotation = ci_workflows()
    assert "QBRAID_KEY_CI" in json.dumps(notebooks) and "papermill" in json.dumps(notebooks)
    assert "rotate ci" in json.dumps(rotation) and "gh secret set" in json.dumps(rotation)
    checkout = tmp_path / "checkout"
    (checkout / "docs" / "ci").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "ci" / "example.ipynb", checkout / "docs" / "ci")
    runner = machine_env(tmp_path / "runner")
    runner["PATH"] = f"{fake_gh(tmp_path / 'gh')}{os.pathsep}{runner['PATH']}"
    runner["GITHUB_REPOSITORY"] = "octo/notebooks"
    runner["QBRAID_TEST_UPSTREAM"] = service.url
    # The one change for the test: the notebook's key service is the local one, not qBraid's.
    notebook_env = runner | {"QBRAID_API_URL": service.api_url}
    first = service.create("ci")["value"]  # set as the repository secret by a person
    secrets = {"QBRAID_KEY_CI": first, "QBRAID_ACCESS_TOKEN": TOKEN, "SECRETS_WRITE_TOKEN": "t"}
    leak_registry.add_values(first)
    executed = checkout / "executed.ipynb"

    def outputs() -> str:
        leak_registry.add_path(executed)
        raw = executed.read_text()
        for value in (first, secrets["QBRAID_KEY_CI"]):
            assert_absent(value, raw, "the executed notebook")
        cells = nbformat.reads(raw, as_version=4).cells
        return json.dumps([c.get("outputs") for c in cells])

    done = run_workflow(notebooks, secrets, notebook_env, checkout)
    assert done.code == 0, done.stderr[-3000:]
    shown = outputs()
    assert "from QBRAID_KEY_CI; checked at" in shown and "with key 'ci'" in shown

    with tempfile.TemporaryDirectory(prefix="qbraid-keys-secrets-") as store:
        done = run_workflow(rotation, secrets, runner | {"FAKE_SECRET_STORE": store}, checkout)
        assert done.code == 0, done.stderr[-3000:]
        rotated = (Path(store) / "QBRAID_KEY_CI").read_text()
    leak_registry.add_values(rotated)
    assert keyformat.has_valid_checksum(rotated) and rotated != first
    assert service.key("ci")["hint"] == keyformat.hint(rotated)
    assert not Path(runner["QBRAID_KEYS_KEYRING_FILE"]).exists()  # --no-store: off the disk
    assert_absent(rotated, done.stdout + done.stderr, "the rotation step's log")

    done = run_workflow(notebooks, secrets, notebook_env, checkout)  # the old secret
    assert done.code != 0 and "rejected the qBraid API key 'ci'" in outputs()
    secrets["QBRAID_KEY_CI"] = rotated
    done = run_workflow(notebooks, secrets, notebook_env, checkout)
    assert done.code == 0, done.stderr[-3000:]
    assert "with key 'ci'" in outputs()

    with tempfile.TemporaryDirectory(prefix="qbraid-keys-secrets-") as store:
        failing = secrets | {"QBRAID_ACCESS_TOKEN": "wrong"}
        done = run_workflow(rotation, failing, runner | {"FAKE_SECRET_STORE": store}, checkout)
        assert done.code != 0 and "refused the account token" in done.stderr
        assert not (Path(store) / "QBRAID_KEY_CI").exists()  # no empty secret after a failure


async def test_commands_find_a_key_by_name_without_listing_the_account(
    jp_serverapp, keys_api, here
):
    """With many keys, `deactivate NAME` asks for that name only (issue 13)."""
    extension = next(iter(jp_serverapp.extension_manager.extension_apps["qbraid_keys_ext"]))
    await extension.ensure_upstream()
    store = extension.embedded.store
    create_many(store, (f"bulk{i:03}" for i in range(300)))

    def whole_account():
        raise AssertionError("the whole account was listed")

    store.list_keys = whole_account
    off = await acli("deactivate", "BULK123", env=here)
    assert off.code == 0, off.stderr
    assert off.stdout.startswith("Deactivated qBraid API key 'bulk123'")
    one_line_error(
        await acli("activate", "nope", env=here),
        "no qBraid API key named 'nope'",
        "Keys (the newest 20 of 300): ",
        "'bulk299'",
    )
