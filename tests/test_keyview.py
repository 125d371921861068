"""How keys are shown: ages in words, reminder badges, the usage chart, escaping."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from qbraid_keys_ext import keyview

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


def key(**fields):
    return {
        "id": "key_0000000000000001",
        "name": "ci",
        "hint": "qbr_3f9a…c0de",
        "scopes": ["jobs:read"],
        "status": "active",
        "createdAt": "2026-11-27T11:00:00Z",
        "rotatedAt": None,
        "lastUsedAt": None,
        "usage": {"total": 0, "daily": []},
        "stored": True,
        **fields,
    }


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        (None, "never"),
        ("2026-11-27T11:59:30Z", "just now"),
        ("2026-11-27T11:59:00Z", "1 minute ago"),
        ("2026-11-27T09:00:00Z", "3 hours ago"),
        ("2026-11-26T12:00:00Z", "1 day ago"),
        ("2026-09-27T12:00:00Z", "2 months ago"),
        ("2024-11-27T12:00:00Z", "2 years ago"),
        ("not a date", "never"),
    ],
)
def test_ago(stamp, words):
    assert keyview.ago(stamp, NOW) == words


def test_badges():
    assert keyview.badges(key(), NOW) == []
    old = key(createdAt="2026-08-01T00:00:00Z", lastUsedAt="2026-11-27T10:00:00Z")
    assert keyview.badges(old, NOW) == ["older than 90 days: regenerate it"]
    # Regenerating gives the key a fresh value: no age reminder.
    assert keyview.badges({**old, "rotatedAt": "2026-11-20T00:00:00Z"}, NOW) == []
    idle = key(createdAt="2026-10-01T00:00:00Z")
    assert keyview.badges(idle, NOW) == ["never used in 30 days"]
    stale = key(createdAt="2026-10-01T00:00:00Z", lastUsedAt="2026-10-02T00:00:00Z")
    assert keyview.badges(stale, NOW) == ["not used for 30 days"]
    both = key(createdAt="2026-01-01T00:00:00Z")
    assert len(keyview.badges(both, NOW)) == 2


def test_summary_and_details_escape_names():
    shown = key(name="<img src=x onerror=alert(1)>")
    for html in (keyview.summary_html(shown, NOW), keyview.details_html(shown, NOW)):
        assert "<img" not in html
    assert "&lt;img src=x" in keyview.summary_html(shown, NOW)


def test_usage_chart():
    daily = [{"date": f"2026-11-{d:02}", "count": d % 3} for d in range(1, 31)]
    chart = keyview.usage_chart(daily)
    assert chart.count("<rect ") == 30
    assert "<title>2026-11-02: 2 uses</title>" in chart
    assert "<title>2026-11-01: 1 use</title>" in chart
    assert "2026-11-01" in keyview.text_of(chart) and "2026-11-30" in keyview.text_of(chart)


def test_one_time_box_holds_value_escaped_with_copy_button():
    value = "qbr_" + "ab" * 32
    box = keyview.one_time_html(key(), value, "Created key")
    assert box.count(value) == 1
    assert "navigator.clipboard.writeText" in box and ">Copy</button>" in box
    assert "also stored in this Lab's keyring" in keyview.text_of(box)
    assert "not</b> stored" in keyview.one_time_html(key(stored=False), value, "Created key")
