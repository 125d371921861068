"""How a key object is shown: ages in words, reminder badges, summary and details HTML, usage chart.

Everything here is a pure function of a key object (which never carries a value) and the
current time, so it is cheap, testable without a kernel, and safe to put in widget state.
Styling uses JupyterLab's CSS variables so light and dark themes both look right.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

MAX_AGE_DAYS = 90
"""A key value older than this gets a reminder to rotate it."""

UNUSED_DAYS = 30
"""A key not used for this long gets a reminder that it may not be needed."""

FONT = "color: var(--jp-ui-font-color1, inherit); font-family: var(--jp-ui-font-family, inherit)"
MUTED = "color: var(--jp-ui-font-color2, inherit)"
CODE = (
    "font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 13px)"
)
PILL = "display: inline-block; padding: 0 6px; margin: 0 2px; border-radius: 8px; font-size: 11px"
PILL_ACTIVE = (
    f"{PILL}; color: var(--jp-success-color0, green);"
    " border: 1px solid var(--jp-success-color1, green)"
)
PILL_INACTIVE = (
    f"{PILL}; color: var(--jp-warn-color0, #8a5a00);"
    " border: 1px solid var(--jp-warn-color1, orange)"
)
PILL_WARN = (
    f"{PILL}; color: var(--jp-warn-color0, #8a5a00); background: var(--jp-warn-color3, #fff3cd);"
    " border: 1px solid var(--jp-warn-color1, orange)"
)
MESSAGE_STYLES = {
    "working": f"{MUTED}; font-style: italic",
    "ok": "color: var(--jp-success-color0, green)",
    "error": (
        "color: var(--jp-error-color0, #b00020); background: var(--jp-error-color3, #fde7e9);"
        " border-left: 3px solid var(--jp-error-color1, #b00020); padding: 4px 8px"
    ),
    "info": FONT,
}


def esc(text: object) -> str:
    """HTML-escape any text for an HTML widget (names are user input; the HTML is not sanitized)."""
    return html.escape(str(text), quote=True)


def parse_time(stamp: str | None) -> datetime | None:
    """A key API timestamp (`2026-11-27T05:00:00Z`) as an aware datetime, or None."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


def now_utc() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def ago(stamp: str | None, now: datetime | None = None, *, none: str = "never") -> str:
    """A timestamp in words relative to now: "never", "just now", "3 hours ago", "2 months ago"."""
    when = parse_time(stamp)
    if when is None:
        return none
    seconds = max(0, int(((now or now_utc()) - when).total_seconds()))
    if seconds < 60:
        return "just now"
    for size, unit in ((31_536_000, "year"), (2_592_000, "month"), (86_400, "day")):
        if seconds >= size:
            return _plural(seconds // size, unit)
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    return _plural(seconds // 60, "minute")


def date(stamp: str | None, *, with_time: bool = False, none: str = "never") -> str:
    """A timestamp as `2026-11-27` (or `2026-11-27 05:00 UTC`)."""
    when = parse_time(stamp)
    if when is None:
        return none
    return when.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def value_since(key: Mapping[str, Any]) -> str | None:
    """When the key's current value was made: its last rotation, else its creation."""
    return key.get("rotatedAt") or key.get("createdAt")


# One rule for a key's status, the same words as the sidebar's (labextension/src/keystatus.ts):
# an inactive key keeps every action but "use", and looks paused, never deleted.
STATUS_TITLES = {
    "active": "Active: requests with this key are accepted.",
    "inactive": "Inactive: requests with this key are refused until it is activated.",
}


def status_title(key: Mapping[str, Any]) -> str:
    """What a key's status badge says when pointed at."""
    return STATUS_TITLES.get(str(key.get("status")), "Unknown status.")


def use_blocker(key: Mapping[str, Any]) -> str | None:
    """Why a key cannot be used in a notebook here, as a sentence, or None when it can."""
    if key.get("status") != "active":
        return "Activate the key first: requests with it are refused while it is inactive."
    if not key.get("stored"):
        return (
            "This Lab's keyring does not hold the value: regenerate the key here, or run "
            f"%qbraid_key add {key.get('name', '')}."
        )
    return None


def badges(key: Mapping[str, Any], now: datetime | None = None) -> list[str]:
    """Best-practice reminders for a key: an old value, or no use for 30 days."""
    now = now or now_utc()
    found = []
    made = parse_time(value_since(key))
    if made is not None and (now - made).days >= MAX_AGE_DAYS:
        found.append(f"older than {MAX_AGE_DAYS} days: regenerate it")
    created = parse_time(key.get("createdAt"))
    last = parse_time(key.get("lastUsedAt")) or created
    if last is not None and (now - last).days >= UNUSED_DAYS:
        found.append(
            f"never used in {UNUSED_DAYS} days"
            if key.get("lastUsedAt") is None
            else f"not used for {UNUSED_DAYS} days"
        )
    return found


def summary_html(key: Mapping[str, Any], now: datetime | None = None) -> str:
    """One row of the list: name, hint, status, created, last used, stored here, badges."""
    active = key.get("status") == "active"
    stored = "stored in this Lab" if key.get("stored") else "not stored in this Lab"
    parts = [
        f"<b style='{FONT}'>{esc(key.get('name', ''))}</b>",
        f"<span style='{CODE}; {MUTED}'>{esc(key.get('hint', ''))}</span>",
        f"<span style='{PILL_ACTIVE if active else PILL_INACTIVE}'"
        f" title='{esc(status_title(key))}'>{esc(key.get('status', 'unknown'))}</span>",
        f"<span style='{MUTED}'>created {date(key.get('createdAt'), none='?')}</span>",
        f"<span style='{MUTED}'>· last used {ago(key.get('lastUsedAt'), now)}</span>",
        f"<span style='{MUTED}'>· {stored}</span>",
        *(f"<span style='{PILL_WARN}'>{esc(b)}</span>" for b in badges(key, now)),
    ]
    return f"<div style='{FONT}; line-height: 1.6'>{' '.join(parts)}</div>"


def usage_chart(daily: list[Mapping[str, Any]], width: int = 180, height: int = 36) -> str:
    """The last 30 days of use as a small inline SVG bar chart (oldest left), with tooltips."""
    if not daily:
        return f"<span style='{MUTED}'>no usage data</span>"
    top = max((int(d.get("count") or 0) for d in daily), default=0) or 1
    step = width / len(daily)
    bar = max(1.0, step - 1)
    bars = []
    for i, day in enumerate(daily):
        count = int(day.get("count") or 0)
        h = max(1.0, (height - 2) * count / top) if count else 1.0
        fill = "var(--jp-brand-color1, #1976d2)" if count else "var(--jp-border-color2, #ccc)"
        bars.append(
            f"<rect x='{i * step:.1f}' y='{height - h:.1f}' width='{bar:.1f}' height='{h:.1f}'"
            f" style='fill: {fill}'><title>{esc(day.get('date', ''))}: {count} "
            f"use{'' if count == 1 else 's'}</title></rect>"
        )
    first, last = esc(daily[0].get("date", "")), esc(daily[-1].get("date", ""))
    return (
        f"<svg role='img' aria-label='uses per day, last {len(daily)} days' width='{width}'"
        f" height='{height}' viewBox='0 0 {width} {height}' style='vertical-align: middle'>"
        f"{''.join(bars)}</svg>"
        f"<div style='{MUTED}; font-size: 10px; width: {width}px; display: flex;"
        f" justify-content: space-between'><span>{first}</span><span>{last}</span></div>"
    )


def history_html(events: list[Mapping[str, Any]], now: datetime | None = None) -> str:
    """A key's audit events (newest first): action, when, hint, by whom."""
    if not events:
        return f"<div style='{MUTED}'>History: no recorded changes.</div>"
    items = "".join(
        f"<li><b>{esc(e.get('action'))}</b> {esc(ago(e.get('at'), now))}"
        f" <span style='{MUTED}'>· {esc(e.get('hint'))} · by {esc(e.get('actor'))}</span></li>"
        for e in events
    )
    return (
        f"<div style='margin-top: 4px'><span style='{MUTED}'>History</span>"
        f"<ul style='margin: 2px 0; padding-left: 16px'>{items}</ul></div>"
    )


def details_html(
    key: Mapping[str, Any],
    now: datetime | None = None,
    history: list[Mapping[str, Any]] | None = None,
) -> str:
    """The inline details of a key: dates, status, permissions, usage, chart and history."""
    usage = key.get("usage") or {}
    daily = list(usage.get("daily") or [])
    recent = sum(int(d.get("count") or 0) for d in daily)
    rotated = key.get("rotatedAt")
    rows = [
        (
            "Created",
            f"{date(key.get('createdAt'), with_time=True)} ({ago(key.get('createdAt'), now)})",
        ),
        (
            "Value regenerated",
            f"{date(rotated, with_time=True)} ({ago(rotated, now)})" if rotated else "never",
        ),
        (
            "Last used",
            f"{date(key.get('lastUsedAt'), with_time=True)} ({ago(key.get('lastUsedAt'), now)})"
            if key.get("lastUsedAt")
            else "never",
        ),
        ("Status", status_title(key)),
        ("Permissions", ", ".join(key.get("scopes") or []) or "none"),
        ("Usage", f"{usage.get('total', 0)} in total, {recent} in the last {len(daily)} days"),
        ("In this Lab's keyring", "yes" if key.get("stored") else "no"),
    ]
    cells = "".join(
        f"<tr><td style='{MUTED}; padding: 1px 12px 1px 0; vertical-align: top'>{esc(k)}</td>"
        f"<td style='{FONT}; padding: 1px 0'>{esc(v)}</td></tr>"
        for k, v in rows
    )
    reminders = "".join(f"<span style='{PILL_WARN}'>{esc(b)}</span>" for b in badges(key, now))
    return (
        f"<div style='{FONT}; margin: 2px 0 6px 18px; padding: 6px 10px;"
        " border-left: 2px solid var(--jp-border-color2, #ddd);"
        " background: var(--jp-layout-color2, transparent)'>"
        f"<table style='border-collapse: collapse'>{cells}</table>"
        f"<div style='margin-top: 4px'>{usage_chart(daily)}</div>"
        f"{f'<div>{reminders}</div>' if reminders else ''}"
        f"{history_html(history, now) if history is not None else ''}</div>"
    )


def message_html(text: str, kind: str = "info") -> str:
    """A status line for the panel: working, ok, error or info."""
    if not text:
        return ""
    return f"<div style='{MESSAGE_STYLES.get(kind, FONT)}'>{esc(text)}</div>"


_COPY_JS = (
    "(function(b){var c=b.parentNode.querySelector('.qbraid-keys-value');var t=c.textContent;"
    "function ok(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},2000)}"
    "function pick(){var r=document.createRange();r.selectNodeContents(c);"
    "var s=window.getSelection();s.removeAllRanges();s.addRange(r);"
    "try{if(document.execCommand('copy')){ok();return}}catch(e){}"
    "b.textContent='Selected: press Ctrl+C'}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(ok,pick)}"
    "else{pick()}})(this)"
)


def one_time_html(key: Mapping[str, Any], value: str, action: str) -> str:
    """The one-time box: the value, a Copy button (inline JS in the HTML widget), keyring note."""
    if key.get("stored"):
        kept = "It is also stored in this Lab's keyring, for <code>%qbraid_key use</code>."
    elif key.get("storeError"):
        kept = f"It could not be stored in this Lab's keyring: {esc(key['storeError'])}"
    else:
        kept = "It is <b>not</b> stored in this Lab's keyring."
    return (
        f"<div style='{FONT}; padding: 8px 10px; margin: 4px 0;"
        " border: 1px solid var(--jp-warn-color1, orange); border-radius: 4px;"
        " background: var(--jp-layout-color2, transparent)'>"
        f"<div>{esc(action)} <b>{esc(key.get('name', ''))}</b>. Copy its value now: "
        "it is shown only this once.</div>"
        "<div style='margin: 6px 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap'>"
        f"<code class='qbraid-keys-value' style='{CODE}; user-select: all;"
        " -webkit-user-select: all; padding: 2px 6px;"
        " word-break: break-all; background: var(--jp-layout-color0, transparent);"
        " border: 1px solid var(--jp-border-color1, #ccc); border-radius: 3px'>"
        f"{esc(value)}</code>"
        "<button type='button' class='jupyter-button' style='height: 24px'"
        f" onclick='{esc(_COPY_JS)}'>Copy</button></div>"
        f"<div style='{MUTED}'>{kept} Click <i>Done, I stored it</i> to remove the value from "
        "this notebook.</div></div>"
    )


_HIDDEN = re.compile(r"<(script|style|svg)\b.*?</\1>", re.S | re.I)
_BLOCKS = re.compile(r"</?(div|p|br|tr|td|th|table|li|ul|button)\b[^>]*>", re.I)
_TAGS = re.compile(r"<[^>]+>")


def text_of(markup: str) -> str:
    """What an HTML widget shows as plain text: tags dropped, entities decoded, spaces collapsed."""
    text = _TAGS.sub("", _BLOCKS.sub(" ", _HIDDEN.sub(" ", markup)))
    return " ".join(html.unescape(text).split())
