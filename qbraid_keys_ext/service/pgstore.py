"""PostgreSQL store of API keys, for several service processes on one database.

The rules (names, scopes, fields, errors, key objects) are ``store.py``'s; this module holds
only what PostgreSQL does differently:

- **No verify cache.** Every verify is one indexed read (``keys.digest``), so a rotate,
  deactivate or revoke committed by any process is seen by every process on its very next
  request. (A cache would need a change counter read per request: the same round trip.)
- **Usage adds up.** Each process counts uses in memory and adds them to the stored counts
  every flush (``count = count + n``, rows in one order so concurrent flushes cannot
  deadlock); a failed flush keeps its counts for the next one.
- **Rate limits hold across processes.** Authentication failures are rows of
  ``auth_failures`` (client, time); one transaction per failure counts the client's recent
  rows under a per-client advisory lock and adds one, so N processes allow exactly the limit.
- **One transaction per change**; its answer is sent after the commit, so a killed process
  loses no answered write (only uses not yet flushed).
- **Quantum jobs** and credits are ``pgjobstore.py``'s (migration 2): which process runs a
  job, and how jobs of a process that is gone are taken over, is described there.
- **Migrations** are numbered (``MIGRATIONS``) and applied at start, under an advisory lock,
  each in its own transaction, recorded in ``schema_migrations``.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from . import keyformat
from .pgjobstore import PgJobStore
from .store import (
    ACCOUNT,
    USAGE_DAYS,
    KeyServiceError,
    NewKey,
    VerifiedKey,
    _check_fields,
    _cursor_seq,
    _iso,
    _key_cursor,
    _key_position,
    check_actor,
    check_found,
    check_name,
    check_status,
    check_value,
    events_page,
    fold_name,
    name_taken,
    not_found,
    utcnow,
)

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "keys, usage, events, auth failures",
        """
        CREATE TABLE keys (
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            id TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            name_fold TEXT NOT NULL,
            digest TEXT NOT NULL,
            hint TEXT NOT NULL,
            scopes TEXT[] NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
            created_at TIMESTAMPTZ NOT NULL,
            rotated_at TIMESTAMPTZ,
            last_used_at TIMESTAMPTZ
        );
        CREATE UNIQUE INDEX keys_digest ON keys (digest);
        CREATE UNIQUE INDEX keys_account_name_fold ON keys (account, name_fold);
        CREATE INDEX keys_account_created ON keys (account, created_at DESC, seq DESC);
        CREATE TABLE usage (
            key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
            day DATE NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (key_id, day)
        );
        CREATE TABLE events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL,
            action TEXT NOT NULL,
            key_id TEXT NOT NULL,
            key_name TEXT NOT NULL,
            hint TEXT NOT NULL,
            actor TEXT NOT NULL
        );
        CREATE INDEX events_by_account ON events (account, seq);
        CREATE INDEX events_by_key ON events (account, key_id, seq);
        CREATE TABLE auth_failures (
            client TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX auth_failures_by_client ON auth_failures (client, at);
        CREATE INDEX auth_failures_by_time ON auth_failures (at);
        """,
    ),
    (
        2,
        "quantum jobs, credits, job runners",
        """
        CREATE SEQUENCE job_runners AS INTEGER CYCLE;
        CREATE TABLE jobs (
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            qrn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            key_id TEXT,
            device_qrn TEXT NOT NULL,
            name TEXT,
            shots INTEGER NOT NULL,
            tags JSON NOT NULL,
            runtime_options JSON NOT NULL,
            program_format TEXT NOT NULL,
            program_data TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
            status_msg TEXT,
            estimated_cost BIGINT NOT NULL,
            cost BIGINT,
            result JSON,
            attempts INTEGER NOT NULL DEFAULT 0,
            runner INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            ended_at TEXT,
            execution_ms BIGINT
        );
        CREATE INDEX jobs_account_created ON jobs (account, created_at DESC, seq DESC);
        CREATE INDEX jobs_pending ON jobs (device_qrn, created_at, seq)
            WHERE status IN ('QUEUED', 'RUNNING');
        CREATE INDEX jobs_pending_runner ON jobs (runner) WHERE status IN ('QUEUED', 'RUNNING');
        CREATE TABLE credits (
            account TEXT PRIMARY KEY,
            balance BIGINT NOT NULL CHECK (balance >= 0)
        );
        """,
    ),
]
"""Schema changes, in order: (version, what, SQL). Append; never edit an applied one."""

_MIGRATION_LOCK = 0x71627273  # advisory lock key: one process migrates at a time


async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply the migrations this database lacks; return the versions applied now."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row["version"] for row in await cur.fetchall()}
        newer = sorted(done - {version for version, _, _ in MIGRATIONS})
        if newer:
            raise RuntimeError(
                f"the database has schema version {newer[-1]}, made by a newer qbraid-keys-ext; "
                "upgrade this one"
            )
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            async with conn.transaction():  # a savepoint: each migration whole or not at all
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
            applied_now.append(version)
    return applied_now


class PgFailureLimiter:
    """Authentication failures per client, shared by every process on the database."""

    def __init__(self, pool: AsyncConnectionPool, limit: int, window: float) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("The rate limit must be >= 0 (0: off) and the window > 0 seconds.")
        self.limit = limit
        self.window = window
        self._pool = pool

    async def fail(self, client: str) -> int | None:
        """Count one failure of ``client``; if it is over the limit, count none and return
        the whole seconds until it may fail again."""
        if self.limit == 0:
            return None
        window = timedelta(seconds=self.window)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (client,))
            cur = await conn.execute(
                "SELECT count(*) AS n, EXTRACT(EPOCH FROM min(at) + %s - clock_timestamp())"
                " AS wait FROM (SELECT at FROM auth_failures WHERE client = %s"
                " AND at > clock_timestamp() - %s ORDER BY at DESC LIMIT %s) AS recent",
                (window, client, window, self.limit),
            )
            row = await cur.fetchone()
            if row["n"] >= self.limit:
                return max(1, math.ceil(float(row["wait"])))
            await conn.execute("INSERT INTO auth_failures (client) VALUES (%s)", (client,))
        return None

    async def prune(self) -> None:
        """Drop failures older than the window."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM auth_failures WHERE at < clock_timestamp() - %s",
                (timedelta(seconds=self.window),),
            )


class PgKeyStore:
    """Keys, usage and events of every account in PostgreSQL (async; see the module doc)."""

    kind = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        write_through: bool = False,
        rate_limit: int = 100,
        rate_window: float = 900.0,
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self._clock = clock
        self._write_through = write_through
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
            name="qbraid-keys",
        )
        self.limits = PgFailureLimiter(self._pool, rate_limit, rate_window)
        self._pending: dict[tuple[str, str], int] = {}
        self._pending_last_used: dict[str, datetime] = {}

    async def open(self) -> None:
        """Connect, and bring the schema up to date."""
        await self._pool.open(wait=True, timeout=30)
        try:
            async with self._pool.connection() as conn:
                applied = await migrate(conn)
        except BaseException:
            await self._pool.close()
            raise
        if applied:
            log.info("qBraid keys: PostgreSQL schema migrated to version %d", applied[-1])

    async def open_jobs(self, initial_credits: Decimal) -> PgJobStore:
        """The jobs and credits in this database, with this process as one job runner."""
        jobs = PgJobStore(self.url, self._pool, initial_credits=initial_credits)
        await jobs.open()
        return jobs

    def account(self, account: str) -> PgAccountKeys:
        """The keys of one account."""
        return PgAccountKeys(self, account)

    # -- verification and usage ----------------------------------------------------------

    async def verify(self, value: object, scopes: Sequence[str] = ()) -> VerifiedKey:
        """Check a key value (and scopes) against the database; count one use in memory."""
        digest = check_value(value)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, account, name, scopes, status FROM keys WHERE digest = %s",
                (digest,),
                prepare=True,  # the hot path: prepared on each connection at its first use
            )
            row = await cur.fetchone()
        found = row and VerifiedKey(row["id"], row["name"], list(row["scopes"]), row["account"])
        key = check_found(found, row["status"] if row else "", scopes)
        now = self._clock()
        slot = (key.id, now.date().isoformat())
        self._pending[slot] = self._pending.get(slot, 0) + 1
        self._pending_last_used[key.id] = now
        if self._write_through:
            await self.flush()
        return key

    async def flush(self) -> None:
        """Add the uses counted in memory to the stored counts, in one transaction."""
        if not self._pending and not self._pending_last_used:
            return
        pending, last_used = self._pending, self._pending_last_used
        self._pending, self._pending_last_used = {}, {}
        try:
            async with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                await cur.executemany(
                    "INSERT INTO usage (key_id, day, count) SELECT %s, %s, %s"
                    " WHERE EXISTS (SELECT 1 FROM keys WHERE id = %s)"
                    " ON CONFLICT (key_id, day) DO UPDATE SET count = usage.count + %s",
                    [
                        (key_id, date.fromisoformat(day), n, key_id, n)
                        for (key_id, day), n in sorted(pending.items())
                    ],
                )
                await cur.executemany(
                    "UPDATE keys SET last_used_at = %s WHERE id = %s"
                    " AND (last_used_at IS NULL OR last_used_at < %s)",
                    [(at, key_id, at) for key_id, at in sorted(last_used.items())],
                )
        except BaseException:
            for slot, n in pending.items():  # kept for the next flush
                self._pending[slot] = self._pending.get(slot, 0) + n
            for key_id, at in last_used.items():
                self._pending_last_used[key_id] = max(at, self._pending_last_used.get(key_id, at))
            raise

    async def close(self) -> None:
        """Flush usage and close the connections."""
        try:
            await self.flush()
        finally:
            await self._pool.close()

    # -- shared by the account views -----------------------------------------------------

    async def _key_objects(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Key objects for these rows, with stored and pending usage (two queries)."""
        today = self._clock().date()
        first = today - timedelta(days=USAGE_DAYS - 1)
        days = [(first + timedelta(days=i)).isoformat() for i in range(USAGE_DAYS)]
        ids = [row["id"] for row in rows]
        counts: dict[str, dict[str, int]] = {key_id: {} for key_id in ids}
        totals: dict[str, int] = dict.fromkeys(ids, 0)
        if ids:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT key_id, day, count FROM usage WHERE key_id = ANY(%s) AND day >= %s",
                    (ids, first),
                )
                for row in await cur.fetchall():
                    counts[row["key_id"]][row["day"].isoformat()] = row["count"]
                cur = await conn.execute(
                    "SELECT key_id, SUM(count) AS total FROM usage WHERE key_id = ANY(%s)"
                    " GROUP BY key_id",
                    (ids,),
                )
                for row in await cur.fetchall():
                    totals[row["key_id"]] = int(row["total"])
        for (key_id, day), n in self._pending.items():
            if key_id in counts:
                counts[key_id][day] = counts[key_id].get(day, 0) + n
                totals[key_id] += n
        return [
            {
                **self._fields(row),
                "usage": {
                    "total": totals[row["id"]],
                    "daily": [
                        {"date": day, "count": counts[row["id"]].get(day, 0)} for day in days
                    ],
                },
            }
            for row in rows
        ]

    def _fields(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A key object's fields but ``usage``, with a use not yet flushed in ``lastUsedAt``."""
        used = [at for at in (row["last_used_at"], self._pending_last_used.get(row["id"])) if at]
        return {
            "id": row["id"],
            "name": row["name"],
            "hint": row["hint"],
            "scopes": list(row["scopes"]),
            "status": row["status"],
            "createdAt": _iso(row["created_at"]),
            "rotatedAt": row["rotated_at"] and _iso(row["rotated_at"]),
            "lastUsedAt": _iso(max(used)) if used else None,
        }

    async def _list_items(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """List items for these rows: key objects with usage ``{"total", "last30Days"}``."""
        first = self._clock().date() - timedelta(days=USAGE_DAYS - 1)
        ids = [row["id"] for row in rows]
        usage = {key_id: [0, 0] for key_id in ids}
        if ids:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT key_id, SUM(count) AS total,"
                    " SUM(CASE WHEN day >= %s THEN count ELSE 0 END) AS recent"
                    " FROM usage WHERE key_id = ANY(%s) GROUP BY key_id",
                    (first, ids),
                )
                for row in await cur.fetchall():
                    usage[row["key_id"]] = [int(row["total"]), int(row["recent"])]
        for (key_id, day), n in self._pending.items():
            if key_id in usage:
                usage[key_id][0] += n
                usage[key_id][1] += n if date.fromisoformat(day) >= first else 0
        return [
            {
                **self._fields(row),
                "usage": {"total": usage[row["id"]][0], "last30Days": usage[row["id"]][1]},
            }
            for row in rows
        ]

    def _forget_pending(self, key_id: str) -> None:
        for slot in [slot for slot in self._pending if slot[0] == key_id]:
            del self._pending[slot]
        self._pending_last_used.pop(key_id, None)


_KEY_COLUMNS = "id, name, hint, scopes, status, created_at, rotated_at, last_used_at"


def _key_id(key_id: str) -> str:
    """A key id to look up; NOT_FOUND for one PostgreSQL cannot hold (a NUL character)."""
    if "\x00" in key_id:
        raise not_found(key_id)
    return key_id


class PgAccountKeys:
    """One account's keys in a ``PgKeyStore``: every route but verify works on one."""

    def __init__(self, store: PgKeyStore, account: str = ACCOUNT) -> None:
        self._store = store
        self._pool = store._pool
        self.account = account

    async def list_keys(self) -> list[dict[str, Any]]:
        """Every key object of the account, newest first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM keys WHERE account = %s"
                " ORDER BY created_at DESC, seq DESC",
                (self.account,),
            )
            rows = await cur.fetchall()
        return await self._store._key_objects(rows)

    async def list_page(
        self,
        limit: int = 50,
        cursor: str | None = None,
        *,
        name: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page of keys, newest first: (list items, next cursor, total matching).

        As ``KeyStore.list_page``: keyset pagination on (created_at, seq), creation times
        kept in whole seconds so that the cursor (``k<time>-<seq>``) names a position exactly.
        """
        where, params = ["account = %s"], [self.account]
        if name is not None:
            where.append("name_fold = %s")
            params.append(fold_name(name.strip()))
        if q:
            needle = fold_name(q.strip())
            where.append("(strpos(name_fold, %s) > 0 OR strpos(hint, %s) > 0)")
            params += [needle, needle]
        if any("\x00" in str(p) for p in params):
            return [], None, 0  # PostgreSQL text cannot hold NUL: nothing matches
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT count(*) AS n FROM keys WHERE {' AND '.join(where)}", params
            )
            total = (await cur.fetchone())["n"]
            if cursor is not None:
                at, seq = _key_position(cursor)
                where.append("(created_at, seq) < (%s, %s)")
                params += [datetime.fromisoformat(at), seq]
            cur = await conn.execute(
                f"SELECT seq, {_KEY_COLUMNS} FROM keys WHERE {' AND '.join(where)}"
                " ORDER BY created_at DESC, seq DESC LIMIT %s",
                (*params, limit + 1),
            )
            rows = await cur.fetchall()
        following = None
        if len(rows) > limit:
            rows = rows[:limit]
            following = _key_cursor(_iso(rows[-1]["created_at"]), rows[-1]["seq"])
        return await self._store._list_items(rows), following, total

    async def get(self, key_id: str) -> dict[str, Any]:
        """One key object, or NOT_FOUND (also for another account's key)."""
        _key_id(key_id)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = %s AND account = %s",
                (key_id, self.account),
            )
            row = await cur.fetchone()
        if row is None:
            raise not_found(key_id)
        return (await self._store._key_objects([row]))[0]

    async def create(self, fields: Mapping[str, object], actor: str = "") -> dict[str, Any]:
        """Create a key from ``{"name", "scopes"?}``; its key object with the ``value``."""
        new = NewKey.from_fields(fields)
        key_id, name, value, hint = new.id, new.name, new.value, new.hint
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO keys (id, account, name, name_fold, digest, hint, scopes,"
                    " status, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s)",
                    (
                        key_id,
                        self.account,
                        name,
                        fold_name(name),
                        keyformat.digest(value),
                        hint,
                        new.scopes,
                        # whole seconds, as key objects and page cursors show it
                        self._store._clock().replace(microsecond=0),
                    ),
                )
                await self._record(conn, "created", key_id, name, hint, actor)
        except pg_errors.UniqueViolation as exc:
            raise await self._name_taken(name) from exc
        return {**(await self.get(key_id)), "value": value}

    async def update(
        self, key_id: str, fields: Mapping[str, object], actor: str = ""
    ) -> dict[str, Any]:
        """Apply ``{"name"?, "status"?}`` to a key; its key object."""
        await self.get(key_id)  # NOT_FOUND before a field error, as in SQLite
        _check_fields(fields, ("name", "status"))
        wanted: dict[str, str] = {}
        if "name" in fields:
            wanted["name"] = check_name(fields["name"])
            wanted["name_fold"] = fold_name(wanted["name"])
        if "status" in fields:
            wanted["status"] = check_status(fields["status"])
        if wanted:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    cur = await conn.execute(
                        "SELECT name, name_fold, status, hint FROM keys"
                        " WHERE id = %s AND account = %s FOR UPDATE",
                        (key_id, self.account),
                    )
                    row = await cur.fetchone()
                    if row is None:
                        raise not_found(key_id)
                    changes = {c: v for c, v in wanted.items() if row[c] != v}
                    if changes:
                        assignments = ", ".join(f"{column} = %s" for column in changes)
                        await conn.execute(
                            f"UPDATE keys SET {assignments} WHERE id = %s",
                            (*changes.values(), key_id),
                        )
                        name = changes.get("name", row["name"])
                        if "name" in changes:
                            await self._record(conn, "renamed", key_id, name, row["hint"], actor)
                        if "status" in changes:
                            action = "activated" if changes["status"] == "active" else "deactivated"
                            await self._record(conn, action, key_id, name, row["hint"], actor)
            except pg_errors.UniqueViolation as exc:
                raise await self._name_taken(wanted.get("name", "")) from exc
        return await self.get(key_id)

    async def rotate(self, key_id: str, actor: str = "") -> dict[str, Any]:
        """Replace a key's value (same id, name, scopes); the old value fails at once."""
        _key_id(key_id)
        value = keyformat.generate()
        hint = keyformat.hint(value)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE keys SET digest = %s, hint = %s, rotated_at = %s"
                " WHERE id = %s AND account = %s RETURNING name",
                (keyformat.digest(value), hint, self._store._clock(), key_id, self.account),
            )
            row = await cur.fetchone()
            if row is None:
                raise not_found(key_id)
            await self._record(conn, "rotated", key_id, row["name"], hint, actor)
        return {**(await self.get(key_id)), "value": value}

    async def delete(self, key_id: str, actor: str = "") -> None:
        """Remove a key and its usage for good (its audit trail stays)."""
        _key_id(key_id)
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "DELETE FROM keys WHERE id = %s AND account = %s RETURNING name, hint",
                (key_id, self.account),
            )
            row = await cur.fetchone()
            if row is None:
                raise not_found(key_id)
            await self._record(conn, "revoked", key_id, row["name"], row["hint"], actor)
        self._store._forget_pending(key_id)

    async def list_events(
        self, key_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page of the account's audit trail, newest first: (events, next cursor, total)."""
        if key_id and "\x00" in key_id:
            return [], None, 0  # no key has such an id
        where, params = "account = %s", [self.account]
        if key_id:
            where += " AND key_id = %s"
            params.append(key_id)
        before = _cursor_seq(cursor) if cursor is not None else None
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM events WHERE {where}", params)
            total = (await cur.fetchone())["n"]
            if before is not None:
                where += " AND seq < %s"
                params.append(before)
            cur = await conn.execute(
                f"SELECT * FROM events WHERE {where} ORDER BY seq DESC LIMIT %s",
                (*params, limit + 1),
            )
            rows = await cur.fetchall()
        return (*events_page(rows, limit), total)

    async def _record(
        self,
        conn: psycopg.AsyncConnection[Any],
        action: str,
        key_id: str,
        name: str,
        hint: str,
        actor: str,
    ) -> None:
        """Add one lifecycle event (inside the caller's transaction)."""
        await conn.execute(
            "INSERT INTO events (id, account, at, action, key_id, key_name, hint, actor)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                "evt_" + secrets.token_hex(8),
                self.account,
                self._store._clock(),
                action,
                key_id,
                name,
                hint,
                check_actor(actor),
            ),
        )

    async def _name_taken(self, name: str) -> KeyServiceError:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT name FROM keys WHERE account = %s AND name_fold = %s",
                (self.account, fold_name(name)),
            )
            row = await cur.fetchone()
        return name_taken(row["name"] if row is not None else None, name)
