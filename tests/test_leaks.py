"""After the suite: no key value is in a log, an answer, a database, a notebook or any other file.

`tests/conftest.py` runs this module after every other test; `tests/leakscan.py` says what is
recorded during the session and which one place (the keyring file) may hold values. Run alone,
the module still checks a small flow of its own.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
from pathlib import Path

from qbraid_keys_ext.service import keyformat

from .leakscan import LEAKS, LeakRegistry, RecordingHandler


def test_the_scanner_finds_planted_values():
    """Negative control, on a private registry and a folder outside the session's temp dir."""
    registry = LeakRegistry()
    value = keyformat.generate()  # made here, not issued by a service: unknown to LEAKS
    registry.add_values(value)
    secret = value[4:]
    with tempfile.TemporaryDirectory(prefix="qbraid-leak-control-") as folder:
        root = Path(folder)
        notebook = root / "saved.ipynb"
        notebook.write_text(json.dumps({"cells": [{"outputs": [{"text": [f"key={value}\n"]}]}]}))
        db = root / "other.sqlite3"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (v TEXT)")
            conn.execute("INSERT INTO t VALUES (?)", (secret[3:40].upper(),))  # cut, upper-cased
        (root / "hint-only.log").write_text(f"{keyformat.hint(value)} {value[:12]}")
        (root / "keyring").mkdir()
        (root / "keyring" / "keyring.json").write_text(json.dumps({"qbraid-keys": {"h/k": value}}))
        (root / "server").mkdir()  # our file keyring's format, elsewhere: allowed too
        entries = {"version": 1, "entries": {"qbraid-keys": {"h/k": value}}}
        (root / "server" / "keyring.json").write_text(json.dumps(entries))
        (root / "notes").mkdir()  # named like a keyring, but not one: scanned
        (root / "notes" / "keyring.json").write_text(json.dumps({"copied": value}))

        hits = registry.scan_files([root])
        assert sorted(str(Path(h.where).relative_to(root)) for h in hits) == [
            "notes/keyring.json",
            "other.sqlite3",
            "saved.ipynb",
        ]
        assert all(value not in str(h) for h in hits)  # reports name the hint, never the value

        harvested = LeakRegistry()
        harvested.harvest_keyrings([root])
        assert harvested.values == {secret}

    logger = logging.getLogger("qbraid-leak-control")
    logger.propagate = False
    handler = RecordingHandler(registry)
    logger.addHandler(handler)
    try:
        logger.warning("upstream said %s", {"apiKey": value})
    finally:
        logger.removeHandler(handler)
    registry.record("an answer", json.dumps({"data": {"hint": keyformat.hint(value)}}))
    hits = registry.scan_recorded()
    assert [h.where for h in hits] == ["log record of qbraid-leak-control"]


async def test_a_whole_flow_is_recorded(keys_api, jp_fetch):
    """Create, rotate, list, fail, save a notebook: values known, answers and logs recorded."""
    before = dict(LEAKS.counts)
    code, created = await keys_api("POST", "api/v1/api-keys", body={"name": "leak-scan"})
    assert code == 201
    key_id, first = created["data"]["id"], created["data"]["value"]
    _, rotated = await keys_api("POST", "api/v1/api-keys", key_id, "rotate")
    second = rotated["data"]["value"]
    assert {first[4:], second[4:]} <= LEAKS.values
    await keys_api("GET", "api/v1/api-keys")
    await keys_api("GET", "api/v1/api-keys", key_id)
    await keys_api("POST", "api/v1/api-keys", body={"name": "leak-scan"})  # 409, logged
    notebook = {
        "type": "notebook",
        "content": {
            "cells": [],
            "metadata": {"qbraid_key": key_id},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
    }
    await jp_fetch("api", "contents", "leak.ipynb", method="PUT", body=json.dumps(notebook))
    assert LEAKS.counts["answers"] > before["answers"]
    assert LEAKS.counts["logs"] > before["logs"]


def test_no_key_value_is_anywhere_it_must_not_be(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    LEAKS.harvest_keyrings([base])
    recorded = LEAKS.scan_recorded()
    in_files = LEAKS.scan_files([base, *LEAKS.paths])
    print(
        f"leak scan: {len(LEAKS.values)} values; {LEAKS.counts['answers']} answers, "
        f"{LEAKS.counts['logs']} log records, {LEAKS.counts['texts']} texts, "
        f"{LEAKS.counts['files']} files under {base}"
    )
    assert LEAKS.values and LEAKS.counts["files"] > 0
    hits = sorted({str(h) for h in recorded + in_files})
    advice = ""
    if any("history.sqlite" in h for h in hits):
        advice = (
            "\n(IPython's history.sqlite keeps every cell's input: a test that pastes a value "
            "into kernel code leaves it there; compare a sha256 of the value instead)"
        )
    assert not hits, f"{len(hits)} key value leaks:\n" + "\n".join(hits[:50]) + advice
