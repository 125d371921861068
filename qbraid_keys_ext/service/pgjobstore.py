"""PostgreSQL storage of quantum jobs and credit balances, for several service processes.

The tables (``jobs``, ``credits``) are migration 2 of ``pgstore.MIGRATIONS``; the rules are
``jobs.py``'s, the same as on SQLite (``jobstore.py``, whose row and filter types this module
shares). Credits are whole millionths of a credit; a charge is one conditional ``UPDATE`` in
the transaction that inserts the job, a refund one with the job's change to FAILED or
CANCELLED, which only one caller can make.

**Which process runs a job.** Each process is a *runner*: it takes a number from the
sequence ``job_runners`` when it starts and holds the session advisory lock
``(RUNNER_LOCKS, number)`` on a connection of its own for as long as it lives; PostgreSQL
releases it when that connection ends, also when the process is killed. A job belongs to the
runner that accepted it (``jobs.runner``) and only that runner starts it
(``QUEUED -> RUNNING``, one conditional ``UPDATE``: a job never starts twice), completes it
or fails it. Any process answers status, result, list and cancel from the table. A process
takes over the pending jobs of runners whose lock nobody holds (at start and every few
seconds, ``take_over``): in one transaction it takes the dead runner's lock for the
transaction (``pg_try_advisory_xact_lock``, so two processes cannot both take them) and makes
the jobs its own. A process that starts therefore never requeues jobs RUNNING in another live
process. If a runner's lock connection breaks while the process lives, its jobs may be taken
over; it takes a new lock at its next sweep, and its late writes to those jobs no longer match
(``runner`` changed), so a job is charged and answered once even then.

Session advisory locks need a direct connection (or PgBouncer in session mode) for the lock
connection; the pool's connections may go through any pooler.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool

from .jobstore import (
    PENDING,
    InsufficientCredits,
    JobFilter,
    JobRow,
    from_units,
    to_units,
)

log = logging.getLogger(__name__)

RUNNER_LOCKS = 0x71626A72  # first key of the runners' advisory locks (the second: the runner)
IS_PENDING = "status IN ('QUEUED', 'RUNNING')"  # as written in the partial indexes' predicate


class PgJobStore:
    """Jobs and credits of every account in PostgreSQL, as one runner (see the module doc)."""

    def __init__(self, url: str, pool: AsyncConnectionPool, *, initial_credits: Decimal) -> None:
        self._url = url
        self._pool = pool
        self._initial = to_units(initial_credits)
        self._lock: psycopg.AsyncConnection[Any] | None = None
        self.runner = 0

    async def open(self) -> None:
        """Become a runner: a new number, and its lock held on a connection of its own."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT nextval('job_runners') AS runner")
            self.runner = (await cur.fetchone())["runner"]
        await self._hold_lock()

    async def close(self) -> None:
        """Stop being a runner: the lock goes, and other processes take over its pending jobs."""
        if self._lock is not None:
            await self._lock.close()
            self._lock = None

    async def _hold_lock(self) -> None:
        """Make sure this runner's lock is held (again, if its connection broke)."""
        if self._lock is not None and not self._lock.closed:
            try:
                await self._lock.execute("SELECT 1")
                return
            except psycopg.Error:
                log.warning("Job runner %d lost its lock connection; taking it again", self.runner)
                await self._lock.close()
        self._lock = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await self._lock.execute("SELECT pg_advisory_lock(%s, %s)", (RUNNER_LOCKS, self.runner))

    # -- credits -------------------------------------------------------------------------

    async def balance(self, account: str) -> Decimal:
        """The account's credit balance (the initial one until its first job)."""
        async with self._pool.connection() as conn:
            return await self._balance(conn, account)

    async def _balance(self, conn: psycopg.AsyncConnection[Any], account: str) -> Decimal:
        cur = await conn.execute("SELECT balance FROM credits WHERE account = %s", (account,))
        row = await cur.fetchone()
        return from_units(self._initial if row is None else row["balance"])

    async def _charge(self, conn: psycopg.AsyncConnection[Any], account: str, units: int) -> bool:
        """Take ``units`` from the balance if it holds them (inside the caller's transaction)."""
        charge = "UPDATE credits SET balance = balance - %s WHERE account = %s AND balance >= %s"
        if (await conn.execute(charge, (units, account, units))).rowcount == 1:
            return True
        created = await conn.execute(
            "INSERT INTO credits (account, balance) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (account, self._initial),
        )
        return bool(created.rowcount) and (
            (await conn.execute(charge, (units, account, units))).rowcount == 1
        )

    # -- jobs ----------------------------------------------------------------------------

    async def insert(self, job: dict[str, Any]) -> None:
        """Store a new QUEUED job of this runner and charge its estimated cost, or raise
        InsufficientCredits."""
        cost = Decimal(job["estimated_cost"])
        async with self._pool.connection() as conn:
            async with conn.transaction():
                charged = await self._charge(conn, job["account"], to_units(cost))
                if charged:
                    await conn.execute(
                        "INSERT INTO jobs (qrn, account, key_id, device_qrn, name, shots, tags,"
                        " runtime_options, program_format, program_data, status,"
                        " estimated_cost, runner, created_at) VALUES (%(qrn)s, %(account)s,"
                        " %(key_id)s, %(device_qrn)s, %(name)s, %(shots)s, %(tags)s,"
                        " %(runtime_options)s, %(program_format)s, %(program_data)s, 'QUEUED',"
                        " %(units)s, %(runner)s, %(created_at)s)",
                        {
                            **job,
                            "tags": Json(job["tags"]),
                            "runtime_options": Json(job["runtime_options"]),
                            "units": to_units(cost),
                            "runner": self.runner,
                        },
                    )
            if not charged:
                raise InsufficientCredits(cost, await self._balance(conn, job["account"]))

    async def get(self, account: str, qrn: str) -> JobRow | None:
        """One job of the account, or None."""
        return await self._one("SELECT * FROM jobs WHERE qrn = %s AND account = %s", (qrn, account))

    async def get_any(self, qrn: str) -> JobRow | None:
        """One job whatever its account (for the runner)."""
        return await self._one("SELECT * FROM jobs WHERE qrn = %s", (qrn,))

    async def _one(self, sql: str, params: Sequence[Any]) -> JobRow | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(sql, params)).fetchone()
        return None if row is None else JobRow.from_row(row)

    async def list(
        self, account: str, where: JobFilter, limit: int, offset: int
    ) -> tuple[list[JobRow], int]:
        """A page of the account's jobs, newest first, and how many match in all."""
        sql_where, params = where.sql(account, _tag_is)
        sql_where = sql_where.replace("?", "%s")  # psycopg's placeholders
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) AS n FROM jobs WHERE {sql_where}", params)
            total = (await cur.fetchone())["n"]
            cur = await conn.execute(
                f"SELECT * FROM jobs WHERE {sql_where} ORDER BY created_at DESC, seq DESC"
                " LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            rows = await cur.fetchall()
        return [JobRow.from_row(r) for r in rows], total

    async def take_over(self) -> list[JobRow]:
        """Make the pending jobs of runners that are gone this runner's; them, oldest first."""
        await self._hold_lock()
        taken: list[JobRow] = []
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT DISTINCT runner FROM jobs WHERE {IS_PENDING} AND runner <> %s",
                (self.runner,),
            )
            others = [row["runner"] for row in await cur.fetchall()]
            for runner in others:
                async with conn.transaction():
                    cur = await conn.execute(
                        "SELECT pg_try_advisory_xact_lock(%s, %s) AS gone", (RUNNER_LOCKS, runner)
                    )
                    if not (await cur.fetchone())["gone"]:
                        continue  # alive: its jobs stay its own
                    cur = await conn.execute(
                        f"UPDATE jobs SET runner = %s WHERE runner = %s AND {IS_PENDING}"
                        " RETURNING *",
                        (self.runner, runner),
                    )
                    taken += [JobRow.from_row(row) for row in await cur.fetchall()]
        if taken:
            log.info("Job runner %d took over %d pending jobs", self.runner, len(taken))
        return sorted(taken, key=lambda job: job.created_at)

    async def queue_position(self, job: JobRow) -> int:
        """How many QUEUED jobs of the same device were submitted before this one."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE status = 'QUEUED' AND device_qrn = %s"
                " AND (created_at, seq) < (SELECT created_at, seq FROM jobs WHERE qrn = %s)",
                (job.device_qrn, job.qrn),
            )
            return (await cur.fetchone())["n"]

    async def queue_depths(self) -> dict[str, int]:
        """QUEUED and RUNNING jobs per device."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT device_qrn, count(*) AS n FROM jobs WHERE {IS_PENDING} GROUP BY device_qrn"
            )
            return {row["device_qrn"]: row["n"] for row in await cur.fetchall()}

    async def requeue(self, qrn: str) -> None:
        """Put a job of this runner that was RUNNING when its process stopped back in the queue."""
        await self._change(
            "UPDATE jobs SET status = 'QUEUED', started_at = NULL WHERE qrn = %s"
            " AND status = 'RUNNING' AND runner = %s",
            (qrn, self.runner),
        )

    async def start(self, qrn: str, at: str) -> bool:
        """QUEUED -> RUNNING (one more attempt); False if the job is no longer this runner's
        QUEUED job."""
        return await self._change(
            "UPDATE jobs SET status = 'RUNNING', started_at = %s, attempts = attempts + 1"
            " WHERE qrn = %s AND status = 'QUEUED' AND runner = %s",
            (at, qrn, self.runner),
        )

    async def complete(self, qrn: str, result: dict[str, Any], at: str, execution_ms: int) -> bool:
        """RUNNING -> COMPLETED with its result; the estimated cost becomes the cost."""
        return await self._change(
            "UPDATE jobs SET status = 'COMPLETED', status_msg = NULL, result = %s,"
            " cost = estimated_cost, ended_at = %s, execution_ms = %s"
            " WHERE qrn = %s AND status = 'RUNNING' AND runner = %s",
            (Json(result), at, execution_ms, qrn, self.runner),
        )

    async def _change(self, sql: str, params: Sequence[Any]) -> bool:
        async with self._pool.connection() as conn:
            return (await conn.execute(sql, params)).rowcount == 1

    async def finish_unpaid(
        self, qrn: str, status: str, message: str, at: str, from_statuses: Sequence[str] = PENDING
    ) -> bool:
        """This runner's pending job -> FAILED or CANCELLED; the charge is given back."""
        return await self._unpaid(qrn, status, message, at, from_statuses, self.runner)

    async def cancel(self, qrn: str, message: str, at: str) -> bool:
        """Any runner's pending job -> CANCELLED; the charge is given back."""
        return await self._unpaid(qrn, "CANCELLED", message, at, PENDING, None)

    async def _unpaid(
        self,
        qrn: str,
        status: str,
        message: str,
        at: str,
        from_statuses: Sequence[str],
        runner: int | None,
    ) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE jobs SET status = %s, status_msg = %s, cost = 0, ended_at = %s"
                " WHERE qrn = %s AND status = ANY(%s) AND runner = coalesce(%s::integer, runner)"
                " RETURNING account, estimated_cost",
                (status, message, at, qrn, list(from_statuses), runner),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE credits SET balance = balance + %s WHERE account = %s",
                (row["estimated_cost"], row["account"]),
            )
        return True


def _tag_is(tag: str, value: Any) -> tuple[str, list[Any]]:
    """PostgreSQL's test that a job's tag ``tag`` has the JSON value ``value``."""
    return "(tags::jsonb -> ?) = ?::jsonb", [tag, Json(value)]
