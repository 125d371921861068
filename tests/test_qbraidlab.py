"""`qbraid-keys/qbraid-lab`: a key of ours becomes qBraid Lab's account key, and follows it.

The Jupyter server runs this extension beside `tests/qbraid_lab_stub.py`, which serves qBraid
Lab's `qbraid-lab/qbraid-config` route as qbraid-lab 4.6.13 does. The real qBraid Lab is
tested in `tests/browser/test_qbraid_lab.py`.
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from qbraid_keys_ext.qbraidlab import QbraidLab, qbraidrc_path
from qbraid_keys_ext.service import keyformat

from . import qbraid_lab_stub


@pytest.fixture
def jp_server_config(tmp_path, upstream_config):
    return {
        "ServerApp": {
            "jpserver_extensions": {"qbraid_keys_ext": True, "tests.qbraid_lab_stub": True}
        },
        "QbraidKeys": {"db_path": str(tmp_path / "keys" / "keys.sqlite3"), **upstream_config},
    }


@pytest.fixture(autouse=True)
def _fresh_stub():
    qbraid_lab_stub.received.clear()
    qbraid_lab_stub.failures.clear()
    yield
    qbraid_lab_stub.failures.clear()


def rc() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(qbraidrc_path())
    return dict(parser["default"]) if parser.has_section("default") else {}


async def create(keys_api, name: str, **body) -> dict:
    code, answer = await keys_api("POST", "api/v1/api-keys", body={"name": name, **body})
    assert code == 201, answer
    return answer["data"]


async def upstream_api_url(keys_api) -> str:
    code, status = await keys_api("GET", "status")
    assert code == 200
    return status["upstream"]["url"].rstrip("/") + "/api/v1"


async def test_a_key_becomes_qbraid_labs_key_through_its_route(keys_api):
    code, state = await keys_api("GET", "qbraid-lab")
    assert code == 200
    assert state["data"] == {
        "available": True,
        "apiKeySet": False,
        "keyId": None,
        "hint": None,
        "url": None,
        "upstreamUrl": await upstream_api_url(keys_api),
        "path": "~/.qbraid/qbraidrc",
    }
    assert not qbraidrc_path().exists()  # nothing is written until the user asks

    key = await create(keys_api, "for-lab")
    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]})
    assert code == 200, answer
    url = await upstream_api_url(keys_api)
    assert answer["data"] == {
        "keyId": key["id"],
        "keyName": "for-lab",
        "hint": key["hint"],
        "url": url,
        "path": "~/.qbraid/qbraidrc",
    }
    assert "value" not in json.dumps(answer) and key["value"] not in json.dumps(answer)
    # Saved through qBraid Lab's route, with the user's credentials, and checked by it.
    assert qbraid_lab_stub.received == [
        {"authorization": True, "url": url, "validate": True, "hasKey": True}
    ]
    assert rc() == {"api-key": key["value"], "url": url}

    code, state = await keys_api("GET", "qbraid-lab")
    assert state["data"]["keyId"] == key["id"] and state["data"]["hint"] == key["hint"]
    assert state["data"]["apiKeySet"] is True and state["data"]["url"] == url


async def test_rotation_follows_into_qbraidrc_and_revoke_says_so(keys_api):
    other = await create(keys_api, "other")
    key = await create(keys_api, "lab-key")
    assert (await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]}))[0] == 200

    # Rotating another key leaves qBraid Lab's key alone.
    code, rotated_other = await keys_api("POST", "api/v1/api-keys", other["id"], "rotate")
    assert code == 200 and "qbraidLab" not in rotated_other["data"]
    assert rc()["api-key"] == key["value"]

    code, rotated = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert code == 200
    assert rotated["data"]["qbraidLab"] == {"updated": True, "path": "~/.qbraid/qbraidrc"}
    new_value = rotated["data"]["value"]
    assert new_value != key["value"] and rc()["api-key"] == new_value
    assert qbraid_lab_stub.received[-1]["validate"] is False  # the value came from the service

    code, revoked = await keys_api("DELETE", "api/v1/api-keys", other["id"])
    assert code == 200 and "qbraidLab" not in revoked["data"]
    code, revoked = await keys_api("DELETE", "api/v1/api-keys", key["id"])
    assert code == 200
    assert revoked["data"]["qbraidLab"] == {"wasKey": True, "path": "~/.qbraid/qbraidrc"}


async def test_a_rotation_qbraid_lab_refuses_is_reported_not_lost(keys_api):
    key = await create(keys_api, "refused")
    assert (await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]}))[0] == 200
    qbraid_lab_stub.failures.append("disk full")
    code, rotated = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
    assert code == 200 and rotated["data"]["value"]
    assert rotated["data"]["qbraidLab"] == {
        "updated": False,
        "error": "qBraid Lab did not take the key: disk full.",
        "path": "~/.qbraid/qbraidrc",
    }


async def test_refusals_are_clear_and_write_nothing(keys_api):
    elsewhere = await create(keys_api, "not-here", store=False)
    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": elsewhere["id"]})
    assert code == 409 and answer["error"]["code"] == "NOT_STORED"
    assert "regenerate the key here" in answer["message"]

    paused = await create(keys_api, "paused")
    await keys_api("PATCH", "api/v1/api-keys", paused["id"], body={"status": "inactive"})
    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": paused["id"]})
    assert code == 400 and "inactive" in answer["message"]

    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": "key_0000000000000000"})
    assert code == 404 and answer["error"]["code"] == "NOT_FOUND"
    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": paused["id"], "x": 1})
    assert code == 400 and answer["error"]["allowedFields"] == ["keyId"]
    code, answer = await keys_api("POST", "qbraid-lab", body={})
    assert code == 400
    assert qbraid_lab_stub.received == [] and not qbraidrc_path().exists()

    # qBraid Lab's own refusal (its check failed): our answer passes its sentence on.
    key = await create(keys_api, "checked")
    qbraid_lab_stub.failures.append("qBraid credentials missing or expired")
    code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]})
    assert code == 502 and answer["error"]["code"] == "QBRAID_LAB_FAILED"
    assert answer["message"] == (
        "qBraid Lab did not take the key: qBraid credentials missing or expired."
    )


async def test_follow_url_moves_only_the_url_we_wrote(keys_api, jp_serverapp):
    key = await create(keys_api, "moving")
    assert (await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]}))[0] == 200
    lab = QbraidLab(jp_serverapp)
    old_url = rc()["url"]

    lab.follow_url("http://127.0.0.1:1")  # the embedded service started on another port
    assert rc() == {"api-key": key["value"], "url": "http://127.0.0.1:1/api/v1"}
    lab.follow_url("http://127.0.0.1:2")
    assert rc()["url"] == "http://127.0.0.1:2/api/v1"

    # The user pointed qbraidrc elsewhere since: left alone.
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(qbraidrc_path())
    parser.set("default", "url", "https://api-v2.qbraid.com/api/v1")
    with qbraidrc_path().open("w") as file:
        parser.write(file)
    lab.follow_url("http://127.0.0.1:3")
    assert rc()["url"] == "https://api-v2.qbraid.com/api/v1"
    assert old_url != rc()["url"]


@pytest.fixture
def no_qbraid_lab_config(tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"qbraid_keys_ext": True}},
        "QbraidKeys": {"db_path": str(tmp_path / "keys" / "keys.sqlite3")},
    }


class TestWithoutQbraidLab:
    @pytest.fixture
    def jp_server_config(self, no_qbraid_lab_config):
        return no_qbraid_lab_config

    async def test_absent_qbraid_lab_is_said_and_nothing_follows(self, keys_api):
        code, state = await keys_api("GET", "qbraid-lab")
        assert code == 200 and state["data"] == {"available": False}
        key = await create(keys_api, "plain")
        code, answer = await keys_api("POST", "qbraid-lab", body={"keyId": key["id"]})
        assert code == 404 and answer["error"]["code"] == "QBRAID_LAB_UNAVAILABLE"
        # Even a qbraidrc holding this very key is not touched without qBraid Lab.
        Path(qbraidrc_path()).parent.mkdir(parents=True, exist_ok=True)
        qbraidrc_path().write_text(f"[default]\napi-key = {key['value']}\n")
        code, rotated = await keys_api("POST", "api/v1/api-keys", key["id"], "rotate")
        assert code == 200 and "qbraidLab" not in rotated["data"]
        assert rc()["api-key"] == key["value"]


def test_a_refusal_that_quotes_the_value_is_told_without_it():
    value = keyformat.generate()
    err = QbraidLab._failed(f"configparser: bad value {value!r}", value)
    assert value not in err.message and "[hidden]" in err.message


def test_upstream_jupyterlab_over_qbraid_lab_is_called_out(monkeypatch):
    from importlib import metadata

    from qbraid_keys_ext import qbraidlab

    versions = {"jupyterlab": "4.6.6"}

    def version(name: str) -> str:
        if name not in versions:
            raise metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(qbraidlab.metadata, "version", version)
    assert qbraidlab.replaced_core() is None  # plain JupyterLab
    versions["qbraid-lab"] = "4.6.13"
    warning = qbraidlab.replaced_core()
    assert "upstream jupyterlab 4.6.6 is installed over qBraid Lab 4.6.13" in warning
    assert "pip install --force-reinstall --no-deps qbraid-lab==4.6.13" in warning
