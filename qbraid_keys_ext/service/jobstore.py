"""SQLite storage of quantum jobs and each account's credit balance (same file as the keys).

Two tables beside the key store's, created if missing: ``jobs`` (one row per job: request,
program, state, result) and ``credits`` (one balance per account). Every state change is
one statement or one transaction; a balance change and the job change that causes it are in
the same transaction. Credits are stored as whole millionths of a credit (``INTEGER``), so a
charge is one conditional ``UPDATE``; they are ``Decimal`` outside this module.
All the SQL of jobs and credits on SQLite is in this module; ``pgjobstore.py`` is the same
store on PostgreSQL (several processes on one database), and ``backends.JobTables`` the async
interface through which the rules (``jobs.py``) use either.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .store import _Transaction

PENDING = ("QUEUED", "RUNNING")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    qrn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    key_id TEXT,
    device_qrn TEXT NOT NULL,
    name TEXT,
    shots INTEGER NOT NULL,
    tags TEXT NOT NULL,
    runtime_options TEXT NOT NULL,
    program_format TEXT NOT NULL,
    program_data TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    status_msg TEXT,
    estimated_cost INTEGER NOT NULL,
    cost INTEGER,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    execution_ms INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_account_created ON jobs (account, created_at);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (status) WHERE status IN ('QUEUED', 'RUNNING');
CREATE TABLE IF NOT EXISTS credits (
    account TEXT PRIMARY KEY,
    balance INTEGER NOT NULL
);
"""


UNITS = 10**6  # stored credits are millionths of a credit


def to_units(credits: Decimal) -> int:
    """Credits as stored: whole millionths (rounded half up)."""
    return int((credits * UNITS).to_integral_value(ROUND_HALF_UP))


def from_units(units: int) -> Decimal:
    """Stored millionths as credits."""
    return (Decimal(units) / UNITS).normalize()


def stamp(moment: datetime | None = None) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class InsufficientCredits(Exception):
    """The balance is below a job's cost."""

    def __init__(self, needed: Decimal, balance: Decimal) -> None:
        super().__init__(f"needs {needed}, balance {balance}")
        self.needed = needed
        self.balance = balance


@dataclass(frozen=True)
class JobRow:
    """One stored job."""

    qrn: str
    account: str
    key_id: str | None
    device_qrn: str
    name: str | None
    shots: int
    tags: dict[str, Any]
    runtime_options: dict[str, Any]
    program_format: str
    program_data: str
    status: str
    status_msg: str | None
    estimated_cost: Decimal
    cost: Decimal | None
    result: dict[str, Any] | None
    attempts: int
    created_at: str
    started_at: str | None
    ended_at: str | None
    execution_ms: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sqlite3.Row) -> JobRow:
        """A stored row: JSON columns as text (SQLite) or already decoded (PostgreSQL)."""
        return cls(
            qrn=row["qrn"],
            account=row["account"],
            key_id=row["key_id"],
            device_qrn=row["device_qrn"],
            name=row["name"],
            shots=row["shots"],
            tags=_decoded(row["tags"]),
            runtime_options=_decoded(row["runtime_options"]),
            program_format=row["program_format"],
            program_data=row["program_data"],
            status=row["status"],
            status_msg=row["status_msg"],
            estimated_cost=from_units(row["estimated_cost"]),
            cost=None if row["cost"] is None else from_units(row["cost"]),
            result=_decoded(row["result"]),
            attempts=row["attempts"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            execution_ms=row["execution_ms"],
        )


@dataclass(frozen=True)
class JobFilter:
    """What ``GET /jobs`` selects (every field optional)."""

    statuses: Sequence[str] = ()
    vendor: str | None = None
    provider: str | None = None
    device_qrn: str | None = None
    tags: dict[str, Any] | None = None
    search: str | None = None

    def sql(
        self, account: str, tag_is: Callable[[str, Any], tuple[str, list[Any]]]
    ) -> tuple[str, list[Any]]:
        """The condition selecting these jobs of the account (``?`` placeholders, SQL both
        databases read) and its parameters; ``tag_is(tag, value)`` is the database's test of
        one tag."""
        clauses, params = ["account = ?"], [account]
        if self.statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in self.statuses)})")
            params += list(self.statuses)
        if self.device_qrn:
            clauses.append("device_qrn = ?")
            params.append(self.device_qrn)
        if self.vendor:
            clauses.append("lower(device_qrn) LIKE ? ESCAPE '\\'")
            params.append(_like(self.vendor.lower()) + ":%")
        if self.provider:
            clauses.append("lower(device_qrn) LIKE ? ESCAPE '\\'")
            params.append("%:" + _like(self.provider.lower()) + ":%:%")
        if self.search:
            clauses.append(
                "(lower(coalesce(name, '')) LIKE ? ESCAPE '\\' OR qrn LIKE ? ESCAPE '\\')"
            )
            text = "%" + _like(self.search.lower()) + "%"
            params += [text, text]
        for tag, value in (self.tags or {}).items():
            clause, values = tag_is(tag, value)
            clauses.append(clause)
            params += values
        return " AND ".join(clauses), params


class JobStore:
    """Jobs and credits of the accounts in one SQLite file; used from one thread."""

    def __init__(self, path: str | os.PathLike[str], *, initial_credits: Decimal) -> None:
        self._db = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._initial = to_units(initial_credits)

    def close(self) -> None:
        self._db.close()

    # -- credits -------------------------------------------------------------------------

    def balance(self, account: str) -> Decimal:
        """The account's credit balance (the initial one until its first job)."""
        row = self._db.execute(
            "SELECT balance FROM credits WHERE account = ?", (account,)
        ).fetchone()
        return from_units(self._initial if row is None else row["balance"])

    def _charge(self, account: str, units: int) -> bool:
        """Take ``units`` from the balance if it holds them (inside the caller's transaction)."""
        charge = "UPDATE credits SET balance = balance - ? WHERE account = ? AND balance >= ?"
        if self._db.execute(charge, (units, account, units)).rowcount == 1:
            return True
        created = self._db.execute(
            "INSERT OR IGNORE INTO credits (account, balance) VALUES (?, ?)",
            (account, self._initial),
        ).rowcount
        return bool(created) and self._db.execute(charge, (units, account, units)).rowcount == 1

    # -- jobs ----------------------------------------------------------------------------

    def insert(self, job: dict[str, Any]) -> None:
        """Store a new QUEUED job and charge its estimated cost, or raise InsufficientCredits."""
        cost = Decimal(job["estimated_cost"])
        with _Transaction(self._db):
            if not self._charge(job["account"], to_units(cost)):
                raise InsufficientCredits(cost, self.balance(job["account"]))
            self._db.execute(
                "INSERT INTO jobs (qrn, account, key_id, device_qrn, name, shots, tags,"
                " runtime_options, program_format, program_data, status, estimated_cost,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'QUEUED', ?, ?)",
                (
                    job["qrn"],
                    job["account"],
                    job["key_id"],
                    job["device_qrn"],
                    job["name"],
                    job["shots"],
                    json.dumps(job["tags"]),
                    json.dumps(job["runtime_options"]),
                    job["program_format"],
                    job["program_data"],
                    to_units(cost),
                    job["created_at"],
                ),
            )

    def get(self, account: str, qrn: str) -> JobRow | None:
        """One job of the account, or None."""
        row = self._db.execute(
            "SELECT * FROM jobs WHERE qrn = ? AND account = ?", (qrn, account)
        ).fetchone()
        return None if row is None else JobRow.from_row(row)

    def get_any(self, qrn: str) -> JobRow | None:
        """One job whatever its account (for the runner)."""
        row = self._db.execute("SELECT * FROM jobs WHERE qrn = ?", (qrn,)).fetchone()
        return None if row is None else JobRow.from_row(row)

    def list(
        self, account: str, where: JobFilter, limit: int, offset: int
    ) -> tuple[list[JobRow], int]:
        """A page of the account's jobs, newest first, and how many match in all."""
        sql_where, params = where.sql(account, _tag_is)
        (total,) = self._db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE {sql_where}", params
        ).fetchone()
        rows = self._db.execute(
            f"SELECT * FROM jobs WHERE {sql_where} ORDER BY created_at DESC, rowid DESC"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [JobRow.from_row(r) for r in rows], total

    def pending(self) -> list[JobRow]:
        """Jobs QUEUED or RUNNING, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY created_at, rowid"
        ).fetchall()
        return [JobRow.from_row(r) for r in rows]

    def queue_position(self, job: JobRow) -> int:
        """How many QUEUED jobs of the same device were submitted before this one."""
        (ahead,) = self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE status = 'QUEUED' AND device_qrn = ?"
            " AND (created_at < ? OR (created_at = ? AND rowid < (SELECT rowid FROM jobs"
            " WHERE qrn = ?)))",
            (job.device_qrn, job.created_at, job.created_at, job.qrn),
        ).fetchone()
        return ahead

    def queue_depths(self) -> dict[str, int]:
        """QUEUED and RUNNING jobs per device."""
        rows = self._db.execute(
            "SELECT device_qrn, COUNT(*) FROM jobs WHERE status IN ('QUEUED', 'RUNNING')"
            " GROUP BY device_qrn"
        ).fetchall()
        return {device: n for device, n in rows}

    def requeue(self, qrn: str) -> None:
        """Put a job that was RUNNING when the service stopped back in the queue."""
        self._db.execute(
            "UPDATE jobs SET status = 'QUEUED', started_at = NULL WHERE qrn = ?"
            " AND status = 'RUNNING'",
            (qrn,),
        )

    def start(self, qrn: str, at: str) -> bool:
        """QUEUED -> RUNNING (one more attempt); False if the job is no longer QUEUED."""
        changed = self._db.execute(
            "UPDATE jobs SET status = 'RUNNING', started_at = ?, attempts = attempts + 1"
            " WHERE qrn = ? AND status = 'QUEUED'",
            (at, qrn),
        ).rowcount
        return changed == 1

    def complete(self, qrn: str, result: dict[str, Any], at: str, execution_ms: int) -> bool:
        """RUNNING -> COMPLETED with its result; the estimated cost becomes the cost."""
        changed = self._db.execute(
            "UPDATE jobs SET status = 'COMPLETED', status_msg = NULL, result = ?,"
            " cost = estimated_cost, ended_at = ?, execution_ms = ?"
            " WHERE qrn = ? AND status = 'RUNNING'",
            (json.dumps(result), at, execution_ms, qrn),
        ).rowcount
        return changed == 1

    def finish_unpaid(
        self, qrn: str, status: str, message: str, at: str, from_statuses: Sequence[str] = PENDING
    ) -> bool:
        """Pending -> FAILED or CANCELLED with a message; the charge is given back."""
        with _Transaction(self._db):
            row = self._db.execute(
                "SELECT account, estimated_cost, status FROM jobs WHERE qrn = ?", (qrn,)
            ).fetchone()
            if row is None or row["status"] not in from_statuses:
                return False
            self._db.execute(
                "UPDATE jobs SET status = ?, status_msg = ?, cost = 0, ended_at = ? WHERE qrn = ?",
                (status, message, at, qrn),
            )
            self._db.execute(
                "UPDATE credits SET balance = balance + ? WHERE account = ?",
                (row["estimated_cost"], row["account"]),
            )
        return True


def _tag_is(tag: str, value: Any) -> tuple[str, list[Any]]:
    """SQLite's test that a job's tag ``tag`` has the JSON value ``value``."""
    clause = "json_extract(tags, ?) = json_extract(?, '$')"
    return clause, ["$." + json.dumps(tag), json.dumps(value)]


def _decoded(value: Any) -> Any:
    """A JSON column's value: decoded from its text, or as the driver decoded it."""
    return json.loads(value) if isinstance(value, str) else value


def _like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
