"""SQLite store of API keys (digests only) with in-memory usage counting flushed in batches."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import keyformat

log = logging.getLogger(__name__)

SCOPES: dict[str, str] = {
    "devices:read": "List quantum devices and read their status.",
    "jobs:read": "Read quantum jobs and their results.",
    "jobs:write": "Submit and cancel quantum jobs.",
    "credits:read": "Read the account's credit balance.",
}
DEFAULT_SCOPES = ("devices:read", "jobs:read", "credits:read")
"""What a key gets when its create request names no scopes: the read-only ones."""
SPENDS_CREDITS = ("jobs:write",)
"""Scopes whose requests spend the account's credits."""
STATUSES = ("active", "inactive")
PAGE_MAX = 200
ACTOR_MAX = 64
NAME_MAX = 64
USAGE_DAYS = 30
ACCOUNT = "local"
_VERIFIED_MAX = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    name_fold TEXT NOT NULL,
    digest TEXT NOT NULL,
    hint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    last_used_at TEXT,
    UNIQUE (account, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_digest ON keys (digest);
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, date)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    hint TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_key ON events (account, key_id, seq);
-- Pages of keys, newest first (`list_page`): SQLite appends the rowid to every index.
CREATE INDEX IF NOT EXISTS keys_by_created ON keys (account, created_at);
"""

# Names are unique regardless of case. Enforced on every new name (insert or rename) rather
# than by a unique index, so a database made before this rule, which may hold `dup` and
# `DUP`, keeps both keys working as they are; neither can be joined by a third `Dup`.
_NAME_RULE = """
CREATE INDEX IF NOT EXISTS keys_name_fold ON keys (account, name_fold);
CREATE TRIGGER IF NOT EXISTS keys_name_fold_insert BEFORE INSERT ON keys
WHEN EXISTS (SELECT 1 FROM keys WHERE account = NEW.account AND name_fold = NEW.name_fold)
BEGIN SELECT RAISE(ABORT, 'NAME_TAKEN'); END;
CREATE TRIGGER IF NOT EXISTS keys_name_fold_update BEFORE UPDATE OF name_fold ON keys
WHEN NEW.name_fold IS NOT OLD.name_fold AND EXISTS
    (SELECT 1 FROM keys WHERE account = NEW.account AND name_fold = NEW.name_fold)
BEGIN SELECT RAISE(ABORT, 'NAME_TAKEN'); END;
"""


class KeyServiceError(Exception):
    """A failure with an HTTP status, an error code and a sentence for people.

    `detail` goes into the answer's `error` object beside `code` (e.g. `allowedFields`).
    """

    def __init__(
        self, status: int, code: str, message: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = dict(detail or {})


_KEYLIKE = re.compile(r"qbr_[0-9a-fA-F]{8,}")


def quote(text: str) -> str:
    """Quote user input for an error message: key-like runs masked, at most 40 characters."""
    text = _KEYLIKE.sub("qbr_…", text)
    return repr(text if len(text) <= 40 else text[:39] + "…")


def validation_error(message: str) -> KeyServiceError:
    """Return a 400 VALIDATION_ERROR."""
    return KeyServiceError(400, "VALIDATION_ERROR", message)


def not_found(key_id: str) -> KeyServiceError:
    """Return a 404 NOT_FOUND for a key id."""
    return KeyServiceError(404, "NOT_FOUND", f"No API key with id {quote(key_id)} exists.")


def utcnow() -> datetime:
    """Return the current UTC time."""
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fold_name(name: str) -> str:
    """A name as names are compared: regardless of case (`dup`, `DUP` and `Dup` are one name)."""
    return name.casefold()


def check_name(name: object) -> str:
    """Return the trimmed name, or raise VALIDATION_ERROR."""
    if not isinstance(name, str):
        raise validation_error("The name must be a string.")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in name):
        raise validation_error("The name must not contain control characters.")
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise validation_error(f"The name must be 1 to {NAME_MAX} characters long.")
    return name


def scope_objects() -> list[dict[str, Any]]:
    """The scopes as `GET /api-key-scopes` answers them: granted by default, spending credits."""
    return [
        {
            "name": n,
            "description": d,
            "default": n in DEFAULT_SCOPES,
            "spendsCredits": n in SPENDS_CREDITS,
        }
        for n, d in SCOPES.items()
    ]


def check_known_scopes(scopes: Sequence[str]) -> None:
    """Raise VALIDATION_ERROR naming the valid scopes if any of these is not one of them."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        shown = ", ".join(quote(s) for s in unknown[:5])
        raise validation_error(f"Unknown scope {shown}; valid scopes are: {', '.join(SCOPES)}.")


def check_scopes(scopes: object) -> list[str]:
    """Return the scopes in canonical order, or raise VALIDATION_ERROR."""
    valid = ", ".join(SCOPES)
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise validation_error(f"The scopes must be a list of strings from: {valid}.")
    check_known_scopes(scopes)
    if not scopes:
        raise validation_error(f"Choose at least one scope from: {valid}.")
    if len(set(scopes)) != len(scopes):
        raise validation_error("Each scope may be listed only once.")
    return [s for s in SCOPES if s in scopes]


def unknown_fields_message(unknown: Sequence[str], allowed: Sequence[str]) -> str:
    """The sentence for a body with fields a route does not take."""
    shown = ", ".join(quote(f) for f in unknown[:5])
    return f"Unknown field {shown}; allowed fields are: {', '.join(allowed)}."


def _check_fields(fields: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise KeyServiceError(
            400,
            "VALIDATION_ERROR",
            unknown_fields_message(unknown, allowed),
            # So a proxy that takes fields of its own can say every field it accepts.
            {"allowedFields": list(allowed)},
        )


def check_limit(limit: object) -> int:
    """Return a page size from a query argument, or raise VALIDATION_ERROR."""
    text = str(limit).strip()
    if not text.isdigit() or not 1 <= int(text) <= PAGE_MAX:
        raise validation_error(f"The limit must be a whole number from 1 to {PAGE_MAX}.")
    return int(text)


def _cursor_seq(cursor: str) -> int:
    if len(cursor) > 20 or not cursor.startswith("e") or not cursor[1:].isdigit():
        raise validation_error("The cursor is not one this service gave out.")
    return int(cursor[1:])


_KEY_CURSOR = re.compile(r"k(\d{14})-(\d{1,19})")


def _key_cursor(created_at: str, rowid: int) -> str:
    """The cursor after a key: its creation time (digits only) and rowid, `k20261127050000-42`."""
    return f"k{''.join(ch for ch in created_at if ch.isdigit())}-{rowid}"


def _key_position(cursor: str) -> tuple[str, int]:
    """The (created_at, rowid) a key cursor points after, or VALIDATION_ERROR."""
    found = _KEY_CURSOR.fullmatch(cursor)
    if found is None or int(found.group(2)) >= 2**63:
        raise validation_error("The cursor is not one this service gave out.")
    d = found.group(1)
    at = f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:]}Z"
    try:
        datetime.fromisoformat(at)
    except ValueError:
        raise validation_error("The cursor is not one this service gave out.") from None
    return at, int(found.group(2))


def check_actor(actor: object) -> str:
    """Who made a change, as recorded in the audit trail: printable, at most 64 characters."""
    text = "".join(ch for ch in str(actor or "") if ch.isprintable()).strip()
    return text[:ACTOR_MAX] or "account"


def check_status(status: object) -> str:
    """Return the status, or raise VALIDATION_ERROR."""
    if status not in STATUSES:
        raise validation_error("The status must be 'active' or 'inactive'.")
    return status  # type: ignore[return-value]


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def sqlite_path(db: str | os.PathLike[str]) -> str:
    """The SQLite file a `--db` / `db_path` value names; ValueError for a database URL.

    Without this check, `mysql://host/db` would quietly become a SQLite file of that name.
    """
    path = os.fspath(db)
    url = _URL.match(path)
    if url:  # only the scheme is repeated: the rest may hold a password
        raise ValueError(
            f"{url.group(1)}:// databases are not supported; give the path of a SQLite file."
        )
    return path


def events_page(rows: Sequence[Mapping[str, Any]], limit: int) -> tuple[list[dict], str | None]:
    """Events as the API shows them, from up to ``limit + 1`` rows; and the next cursor."""
    more = len(rows) > limit
    rows = rows[:limit]
    events = [
        {
            "id": row["id"],
            "at": row["at"] if isinstance(row["at"], str) else _iso(row["at"]),
            "action": row["action"],
            "keyId": row["key_id"],
            "keyName": row["key_name"],
            "hint": row["hint"],
            "actor": row["actor"],
        }
        for row in rows
    ]
    return events, (f"e{rows[-1]['seq']}" if more else None)


@dataclass(frozen=True)
class NewKey:
    """A key about to be created: checked name and scopes, a fresh id and value."""

    name: str
    scopes: list[str]
    id: str
    value: str
    hint: str

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> NewKey:
        """Check a create body ``{"name", "scopes"?}`` (VALIDATION_ERROR) and draw a value."""
        _check_fields(fields, ("name", "scopes"))
        if "name" not in fields:
            raise validation_error("The name is required.")
        name = check_name(fields["name"])
        scopes = check_scopes(fields["scopes"]) if "scopes" in fields else list(DEFAULT_SCOPES)
        value = keyformat.generate()
        return cls(name, scopes, "key_" + secrets.token_hex(8), value, keyformat.hint(value))


def check_value(value: object) -> str:
    """The digest of a key value as verify looks it up, or INVALID_API_KEY(_FORMAT)."""
    if not keyformat.is_well_formed(value):
        raise KeyServiceError(401, "INVALID_API_KEY", "The API key is not valid.")
    if not keyformat.has_valid_checksum(value):
        raise KeyServiceError(
            401, "INVALID_API_KEY_FORMAT", "The API key is malformed (its checksum fails)."
        )
    return keyformat.digest(value)  # type: ignore[arg-type]


def check_found(key: VerifiedKey | None, status: str, scopes: Sequence[str]) -> VerifiedKey:
    """The key a digest found, if active and holding ``scopes``; else the verify error."""
    if key is None:
        raise KeyServiceError(401, "INVALID_API_KEY", "The API key is not valid.")
    if status != "active":
        raise KeyServiceError(401, "API_KEY_INACTIVE", "The API key is inactive.")
    missing = [s for s in scopes if s not in key.scopes]
    if missing:
        raise KeyServiceError(
            403, "INSUFFICIENT_SCOPE", f"The API key lacks the scope {', '.join(missing)}."
        )
    return key


def name_taken(taken: str | None, name: str) -> KeyServiceError:
    """409 NAME_TAKEN for ``name``; ``taken`` is the name already held (in its own case)."""
    taken = taken if taken is not None else name
    same = "" if taken == name else " (names are unique regardless of case)"
    return KeyServiceError(
        409, "NAME_TAKEN", f"An API key named {quote(taken)} already exists{same}."
    )


@dataclass(frozen=True)
class VerifiedKey:
    """The key a value belongs to, as verification reports it."""

    id: str
    name: str
    scopes: list[str]
    account: str = ACCOUNT


class KeyStore:
    """API keys in SQLite; verification only reads, usage is flushed later.

    A store works on one account (``account``, the embedded service's ``local`` by default);
    ``for_account`` gives a view on another that shares the connection, the usage counted in
    memory and the verify cache. ``verify`` finds a value in any account and says which.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        account: str = ACCOUNT,
        clock: Callable[[], datetime] = utcnow,
        write_through: bool = False,
    ) -> None:
        path = sqlite_path(path)
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._fold_names()
        self._db.executescript(_NAME_RULE)
        self._account = account
        self._clock = clock
        self._write_through = write_through  # usage written on every verify (benchmarks)
        self._pending: dict[tuple[str, str], int] = {}
        self._pending_last_used: dict[str, datetime] = {}
        # digest -> (key, status) of values verified since the last change to the keys table;
        # emptied by our own writes and whenever another connection commits (data_version).
        self._verified: dict[str, tuple[VerifiedKey, str]] = {}
        self._data_version: int | None = None
        # account -> (data_version, keys) for list_page; shared with the views on other accounts
        self._totals: dict[str, tuple[int, int]] = {}
        self._scopes: dict[str, list[str]] = {}  # the scopes column, decoded once per text

    def for_account(self, account: str) -> KeyStore:
        """This store, working on ``account`` (same connection, usage counts and caches)."""
        if account == self._account:
            return self
        view = copy.copy(self)
        view._account = account
        return view

    @property
    def account(self) -> str:
        """The account this store works on."""
        return self._account

    # -- reading -------------------------------------------------------------------------

    def list_keys(self) -> list[dict[str, Any]]:
        """Return every key object, newest first."""
        rows = self._db.execute(
            "SELECT * FROM keys WHERE account = ? ORDER BY created_at DESC, rowid DESC",
            (self._account,),
        ).fetchall()
        return self._key_objects(rows)

    def get(self, key_id: str) -> dict[str, Any]:
        """Return one key object, or raise NOT_FOUND."""
        return self._key_objects([self._row(key_id)])[0]

    # -- pages (GET /api-keys?limit=&cursor=&name=&q=) ------------------------------------

    def list_page(
        self,
        limit: int = 50,
        cursor: str | None = None,
        *,
        name: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page of keys, newest first: (list items, next cursor, total matching).

        Keyset pagination on (created_at, rowid): a key that exists from the first page to
        the last is seen exactly once, whatever is created or revoked meanwhile. `name`
        keeps the keys of that name regardless of case (one, or in a database from before
        that rule, the few that differ only in case); `q` the keys whose name or hint
        contains it. List items carry usage totals, not the daily series (see `get`).
        """
        where, params = ["account = ?"], [self._account]
        if name is not None:
            where.append("name_fold = ?")
            params.append(fold_name(name.strip()))
        if q:
            needle = fold_name(q.strip())
            where.append("(instr(name_fold, ?) > 0 OR instr(hint, ?) > 0)")
            params += [needle, needle]
        total = self._count(where, params)
        if cursor is not None:
            where.append("(created_at, rowid) < (?, ?)")
            params += list(_key_position(cursor))
        # By name: the name index finds the (one) key, sorted after; `+` keeps SQLite from
        # walking the creation-time index instead, which would scan the whole account.
        order = (
            "+created_at DESC, +rowid DESC" if name is not None else "created_at DESC, rowid DESC"
        )
        rows = self._db.execute(
            f"SELECT rowid, * FROM keys WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        following = None
        if len(rows) > limit:
            rows = rows[:limit]
            following = _key_cursor(rows[-1]["created_at"], rows[-1]["rowid"])
        return self._list_items(rows), following, total

    def _count(self, where: list[str], params: list[Any]) -> int:
        """How many keys match; the account's total is counted again only after a change.

        Counting walks an index, 0.5 ms at 10,000 keys: too slow to do for every page. Our own
        creates and revokes drop the count; another connection's commits change
        `data_version`.
        """
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        everything = len(where) == 1
        known = self._totals.get(self._account) if everything else None
        if known is not None and known[0] == version:
            return known[1]
        (total,) = self._db.execute(
            f"SELECT COUNT(*) FROM keys WHERE {' AND '.join(where)}", params
        ).fetchone()
        if everything:
            self._totals[self._account] = (version, total)
        return total

    def _list_items(self, rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        """List items for these rows: the key object with usage `{"total", "last30Days"}`."""
        if not rows:
            return []
        first = (self._clock().date() - timedelta(days=USAGE_DAYS - 1)).isoformat()
        ids = [row["id"] for row in rows]
        usage = {key_id: [0, 0] for key_id in ids}
        for key_id, total, recent in self._db.execute(
            "SELECT key_id, SUM(count), SUM(CASE WHEN date >= ? THEN count ELSE 0 END)"
            f" FROM usage WHERE key_id IN ({','.join('?' * len(ids))}) GROUP BY key_id",
            (first, *ids),
        ):
            usage[key_id] = [total, recent]
        for (key_id, day), n in self._pending.items():
            if key_id in usage:
                usage[key_id][0] += n
                usage[key_id][1] += n if day >= first else 0
        return [
            {
                **self._fields(row),
                "usage": {"total": usage[row["id"]][0], "last30Days": usage[row["id"]][1]},
            }
            for row in rows
        ]

    def _scope_list(self, text: str) -> list[str]:
        """The scopes column decoded (a few distinct texts: each decoded once)."""
        found = self._scopes.get(text)
        if found is None:
            if len(self._scopes) > 64:
                self._scopes.clear()
            found = self._scopes[text] = json.loads(text)
        return found

    def _fields(self, row: sqlite3.Row) -> dict[str, Any]:
        """A key object's fields but `usage`."""
        return {
            "id": row["id"],
            "name": row["name"],
            "hint": row["hint"],
            "scopes": list(self._scope_list(row["scopes"])),
            "status": row["status"],
            "createdAt": row["created_at"],
            "rotatedAt": row["rotated_at"],
            "lastUsedAt": self._last_used(row),
        }

    def _last_used(self, row: sqlite3.Row) -> str | None:
        """When a key was last used: the stored time, or a newer use not yet flushed."""
        pending_at = self._pending_last_used.get(row["id"])
        if pending_at is None:
            return row["last_used_at"]
        return max(filter(None, (row["last_used_at"], _iso(pending_at))))

    # -- writing -------------------------------------------------------------------------

    def create(self, fields: Mapping[str, object], actor: str = "") -> dict[str, Any]:
        """Create a key from ``{"name", "scopes"?}``; return its key object with the ``value``."""
        new = NewKey.from_fields(fields)
        key_id, name, value, hint = new.id, new.name, new.value, new.hint
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO keys"
                    " (id, account, name, name_fold, digest, hint, scopes, status, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                    (
                        key_id,
                        self._account,
                        name,
                        fold_name(name),
                        keyformat.digest(value),
                        hint,
                        json.dumps(new.scopes),
                        _iso(self._clock()),
                    ),
                )
                self._record("created", key_id, name, hint, actor)
        except sqlite3.IntegrityError as exc:
            raise self._name_taken(name) from exc
        finally:
            self._totals.clear()
        return {**self.get(key_id), "value": value}

    def update(self, key_id: str, fields: Mapping[str, object], actor: str = "") -> dict[str, Any]:
        """Apply ``{"name"?, "status"?}`` to a key; return its key object."""
        row = self._row(key_id)
        _check_fields(fields, ("name", "status"))
        changes: dict[str, str] = {}
        if "name" in fields:
            changes["name"] = check_name(fields["name"])
            changes["name_fold"] = fold_name(changes["name"])
        if "status" in fields:
            changes["status"] = check_status(fields["status"])
        changes = {column: v for column, v in changes.items() if row[column] != v}
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            name = changes.get("name", row["name"])
            try:
                with self._transaction():
                    self._db.execute(
                        f"UPDATE keys SET {assignments} WHERE id = ?", (*changes.values(), key_id)
                    )
                    if "name" in changes:
                        self._record("renamed", key_id, name, row["hint"], actor)
                    if "status" in changes:
                        action = "activated" if changes["status"] == "active" else "deactivated"
                        self._record(action, key_id, name, row["hint"], actor)
            except sqlite3.IntegrityError as exc:
                raise self._name_taken(changes.get("name", "")) from exc
            self._verified.clear()
        return self.get(key_id)

    def rotate(self, key_id: str, actor: str = "") -> dict[str, Any]:
        """Replace a key's value (same id, name, scopes); the old value fails at once."""
        row = self._row(key_id)
        value = keyformat.generate()
        hint = keyformat.hint(value)
        with self._transaction():
            self._db.execute(
                "UPDATE keys SET digest = ?, hint = ?, rotated_at = ? WHERE id = ?",
                (keyformat.digest(value), hint, _iso(self._clock()), key_id),
            )
            self._record("rotated", key_id, row["name"], hint, actor)
        self._verified.clear()
        return {**self.get(key_id), "value": value}

    def delete(self, key_id: str, actor: str = "") -> None:
        """Remove a key and its usage for good (its audit trail stays)."""
        row = self._row(key_id)
        with self._transaction():
            self._db.execute("DELETE FROM usage WHERE key_id = ?", (key_id,))
            self._db.execute("DELETE FROM keys WHERE id = ?", (key_id,))
            self._record("revoked", key_id, row["name"], row["hint"], actor)
        self._totals.clear()
        self._verified.clear()
        for slot in [slot for slot in self._pending if slot[0] == key_id]:
            del self._pending[slot]  # in place: views on other accounts share these counts
        self._pending_last_used.pop(key_id, None)

    # -- audit trail ---------------------------------------------------------------------

    def _record(self, action: str, key_id: str, name: str, hint: str, actor: str) -> None:
        """Add one lifecycle event (inside the caller's transaction)."""
        self._db.execute(
            "INSERT INTO events (id, account, at, action, key_id, key_name, hint, actor)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "evt_" + secrets.token_hex(8),
                self._account,
                _iso(self._clock()),
                action,
                key_id,
                name,
                hint,
                check_actor(actor),
            ),
        )

    def list_events(
        self, key_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page of the audit trail, newest first: (events, next cursor, total)."""
        where, params = "account = ?", [self._account]
        if key_id:
            where += " AND key_id = ?"
            params.append(key_id)
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()
        if cursor is not None:
            where += " AND seq < ?"
            params.append(_cursor_seq(cursor))
        rows = self._db.execute(
            f"SELECT * FROM events WHERE {where} ORDER BY seq DESC LIMIT ?", (*params, limit + 1)
        ).fetchall()
        return (*events_page(rows, limit), total)

    # -- verification and usage ----------------------------------------------------------

    def verify(self, value: object, scopes: Sequence[str] = ()) -> VerifiedKey:
        """Check a key value (and required scopes), count one use in memory; no disk write."""
        key, status = self._lookup(check_value(value)) or (None, "")
        key = check_found(key, status, scopes)
        now = self._clock()
        slot = (key.id, now.date().isoformat())
        self._pending[slot] = self._pending.get(slot, 0) + 1
        self._pending_last_used[key.id] = now
        if self._write_through:
            self.flush()
        return key

    def _lookup(self, digest: str) -> tuple[VerifiedKey, str] | None:
        """The key and status a digest belongs to, from memory unless the keys changed."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._data_version or len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
            self._data_version = version
        found = self._verified.get(digest)
        if found is None:
            row = self._db.execute(
                "SELECT id, account, name, scopes, status FROM keys WHERE digest = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            key = VerifiedKey(row["id"], row["name"], json.loads(row["scopes"]), row["account"])
            found = self._verified[digest] = (key, row["status"])
        return found

    def flush(self) -> None:
        """Write the usage counted in memory to SQLite in one transaction."""
        if not self._pending and not self._pending_last_used:
            return
        pending, last_used = self._pending, self._pending_last_used
        with self._transaction():
            self._db.executemany(
                "INSERT INTO usage (key_id, date, count) SELECT ?, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM keys WHERE id = ?)"
                " ON CONFLICT (key_id, date) DO UPDATE SET count = count + excluded.count",
                [(key_id, day, n, key_id) for (key_id, day), n in pending.items()],
            )
            self._db.executemany(
                "UPDATE keys SET last_used_at = ? WHERE id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                [(_iso(at), key_id, _iso(at)) for key_id, at in last_used.items()],
            )
        self._pending.clear()  # in place: views on other accounts share these counts
        self._pending_last_used.clear()

    def close(self) -> None:
        """Flush usage and close the database."""
        try:
            self.flush()
        finally:
            self._db.close()

    # -- helpers -------------------------------------------------------------------------

    def _fold_names(self) -> None:
        """Give a database made before names were compared regardless of case its folded names.

        Keys whose names differ only in case stay as they are (renaming one would break the
        scripts that name it); the pairs are logged, and a rename of either resolves them.
        """
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(keys)")}
        if "name_fold" in columns:
            return
        with self._transaction():
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(keys)")}
            if "name_fold" in columns:  # another process did it first
                return
            self._db.execute("ALTER TABLE keys ADD COLUMN name_fold TEXT NOT NULL DEFAULT ''")
            rows = self._db.execute("SELECT id, account, name FROM keys").fetchall()
            self._db.executemany(
                "UPDATE keys SET name_fold = ? WHERE id = ?",
                [(fold_name(row["name"]), row["id"]) for row in rows],
            )
        groups: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            groups.setdefault((row["account"], fold_name(row["name"])), []).append(row["name"])
        for names in groups.values():
            if len(names) > 1:
                log.warning(
                    "API keys %s have names that differ only in case; they keep working, and "
                    "no other key may take such a name. Rename all but one to tell them apart.",
                    " and ".join(quote(n) for n in sorted(names)),
                )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _row(self, key_id: str) -> sqlite3.Row:
        row = self._db.execute(
            "SELECT * FROM keys WHERE id = ? AND account = ?", (key_id, self._account)
        ).fetchone()
        if row is None:
            raise not_found(key_id)
        return row

    def _name_taken(self, name: str) -> KeyServiceError:
        row = self._db.execute(
            "SELECT name FROM keys WHERE account = ? AND name_fold = ?",
            (self._account, fold_name(name)),
        ).fetchone()
        return name_taken(row["name"] if row is not None else None, name)

    def _key_objects(self, rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        """Key objects for these rows, reading usage in two queries whatever their number."""
        today = self._clock().date()
        first = today - timedelta(days=USAGE_DAYS - 1)
        days = [(first + timedelta(days=i)).isoformat() for i in range(USAGE_DAYS)]
        if len(rows) == 1:
            scope, params = "key_id = ?", (rows[0]["id"],)
        else:
            scope = "key_id IN (SELECT id FROM keys WHERE account = ?)"
            params = (self._account,)
        counts: dict[str, dict[str, int]] = {row["id"]: {} for row in rows}
        totals: dict[str, int] = dict.fromkeys(counts, 0)
        for key_id, day, n in self._db.execute(
            f"SELECT key_id, date, count FROM usage WHERE {scope} AND date >= ?",
            (*params, first.isoformat()),
        ):
            if key_id in counts:
                counts[key_id][day] = n
        for key_id, n in self._db.execute(
            f"SELECT key_id, SUM(count) FROM usage WHERE {scope} GROUP BY key_id", params
        ):
            if key_id in totals:
                totals[key_id] = n
        for (key_id, day), n in self._pending.items():
            if key_id in counts:
                counts[key_id][day] = counts[key_id].get(day, 0) + n
                totals[key_id] += n
        objects = []
        for row in rows:
            key_id = row["id"]
            objects.append(
                {
                    **self._fields(row),
                    "usage": {
                        "total": totals[key_id],
                        "daily": [
                            {"date": day, "count": counts[key_id].get(day, 0)} for day in days
                        ],
                    },
                }
            )
        return objects


class _Transaction:
    """``with`` block running its statements in one SQLite transaction.

    Inside a transaction the caller opened (e.g. seeding many keys at once, see
    bench/accounts.py), it joins that one: the caller commits or rolls back.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._joined = False

    def __enter__(self) -> None:
        self._joined = self._db.in_transaction
        if not self._joined:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if not self._joined:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
