"""The store interface the routes use, and how a ``--db`` value picks its backend.

Both backends implement it: SQLite (``store.KeyStore``, the default, behind the small async
adapter below; its calls are quick and stay on the event loop, as before) and PostgreSQL
(``pgstore.PgKeyStore``, async, for several processes on one database). The rules (names,
scopes, errors, key objects) live in ``store.py`` and are the same for both.

Quantum jobs and credits likewise: ``JobTables`` is the interface the job rules
(``jobs.py``) use, implemented by ``SqliteJobs`` (``jobstore.JobStore`` behind an async
adapter) and ``pgjobstore.PgJobStore``; ``Backend.open_jobs`` opens the one beside the keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from .jobstore import PENDING, JobFilter, JobRow, JobStore
from .ratelimit import FailureLimiter
from .store import KeyStore, VerifiedKey, sqlite_path

EventsPage = tuple[list[dict[str, Any]], str | None, int]


class AccountKeys(Protocol):
    """One account's keys: what every management route works on."""

    account: str

    async def list_keys(self) -> list[dict[str, Any]]: ...
    async def list_page(
        self,
        limit: int = 50,
        cursor: str | None = None,
        *,
        name: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int]: ...
    async def get(self, key_id: str) -> dict[str, Any]: ...
    async def create(self, fields: Mapping[str, object], actor: str = "") -> dict[str, Any]: ...
    async def update(
        self, key_id: str, fields: Mapping[str, object], actor: str = ""
    ) -> dict[str, Any]: ...
    async def rotate(self, key_id: str, actor: str = "") -> dict[str, Any]: ...
    async def delete(self, key_id: str, actor: str = "") -> None: ...
    async def list_events(
        self, key_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> EventsPage: ...


class Limits(Protocol):
    """Authentication failures per client (see ``ratelimit.py``)."""

    async def fail(self, client: str) -> int | None:
        """Count one failure; if over the limit, count none and return Retry-After seconds."""
        ...

    async def prune(self) -> None:
        """Forget failures older than the window (where they are stored)."""
        ...


class JobTables(Protocol):
    """Quantum jobs and credit balances, as the job rules (``jobs.py``) use them.

    This process is one *runner*: ``insert`` makes a job its own; ``start``, ``complete``,
    ``requeue`` and ``finish_unpaid`` change only its own jobs; ``cancel`` any pending job;
    ``take_over`` makes the pending jobs no live process runs its own.
    """

    async def balance(self, account: str) -> Decimal: ...
    async def insert(self, job: dict[str, Any]) -> None: ...
    async def get(self, account: str, qrn: str) -> JobRow | None: ...
    async def get_any(self, qrn: str) -> JobRow | None: ...
    async def list(
        self, account: str, where: JobFilter, limit: int, offset: int
    ) -> tuple[list[JobRow], int]: ...
    async def take_over(self) -> list[JobRow]: ...
    async def queue_position(self, job: JobRow) -> int: ...
    async def queue_depths(self) -> dict[str, int]: ...
    async def requeue(self, qrn: str) -> None: ...
    async def start(self, qrn: str, at: str) -> bool: ...
    async def complete(
        self, qrn: str, result: dict[str, Any], at: str, execution_ms: int
    ) -> bool: ...
    async def finish_unpaid(
        self, qrn: str, status: str, message: str, at: str, from_statuses: Sequence[str] = ...
    ) -> bool: ...
    async def cancel(self, qrn: str, message: str, at: str) -> bool: ...
    async def close(self) -> None: ...


class Backend(Protocol):
    """A key store the service runs on."""

    kind: str
    limits: Limits

    def account(self, account: str) -> AccountKeys: ...
    async def open_jobs(self, initial_credits: Decimal) -> JobTables: ...
    async def verify(self, value: object, scopes: Sequence[str] = ()) -> VerifiedKey: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


class LocalLimits:
    """A ``FailureLimiter`` in this process's memory, as ``Limits``."""

    def __init__(self, limiter: FailureLimiter) -> None:
        self.limiter = limiter

    async def fail(self, client: str) -> int | None:
        wait = self.limiter.retry_after(client)
        if wait is None:
            self.limiter.failed(client)
        return wait

    async def prune(self) -> None:
        """Nothing to do: the limiter bounds its own memory."""


class SqliteAccountKeys:
    """``AccountKeys`` over a ``KeyStore`` view on one account."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self.account = store.account

    async def list_keys(self) -> list[dict[str, Any]]:
        return self._store.list_keys()

    async def list_page(
        self,
        limit: int = 50,
        cursor: str | None = None,
        *,
        name: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        return self._store.list_page(limit, cursor, name=name, q=q)

    async def get(self, key_id: str) -> dict[str, Any]:
        return self._store.get(key_id)

    async def create(self, fields: Mapping[str, object], actor: str = "") -> dict[str, Any]:
        return self._store.create(fields, actor)

    async def update(
        self, key_id: str, fields: Mapping[str, object], actor: str = ""
    ) -> dict[str, Any]:
        return self._store.update(key_id, fields, actor)

    async def rotate(self, key_id: str, actor: str = "") -> dict[str, Any]:
        return self._store.rotate(key_id, actor)

    async def delete(self, key_id: str, actor: str = "") -> None:
        self._store.delete(key_id, actor)

    async def list_events(
        self, key_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> EventsPage:
        return self._store.list_events(key_id, limit, cursor)


class SqliteJobs:
    """``JobTables`` over a ``JobStore``: one process per file, so every job is its own."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._taken = False

    async def balance(self, account: str) -> Decimal:
        return self._store.balance(account)

    async def insert(self, job: dict[str, Any]) -> None:
        self._store.insert(job)

    async def get(self, account: str, qrn: str) -> JobRow | None:
        return self._store.get(account, qrn)

    async def get_any(self, qrn: str) -> JobRow | None:
        return self._store.get_any(qrn)

    async def list(
        self, account: str, where: JobFilter, limit: int, offset: int
    ) -> tuple[list[JobRow], int]:
        return self._store.list(account, where, limit, offset)

    async def take_over(self) -> list[JobRow]:
        """Every pending job the first time (the process that ran them is gone), then none."""
        if self._taken:
            return []
        self._taken = True
        return self._store.pending()

    async def queue_position(self, job: JobRow) -> int:
        return self._store.queue_position(job)

    async def queue_depths(self) -> dict[str, int]:
        return self._store.queue_depths()

    async def requeue(self, qrn: str) -> None:
        self._store.requeue(qrn)

    async def start(self, qrn: str, at: str) -> bool:
        return self._store.start(qrn, at)

    async def complete(self, qrn: str, result: dict[str, Any], at: str, execution_ms: int) -> bool:
        return self._store.complete(qrn, result, at, execution_ms)

    async def finish_unpaid(
        self, qrn: str, status: str, message: str, at: str, from_statuses: Sequence[str] = PENDING
    ) -> bool:
        return self._store.finish_unpaid(qrn, status, message, at, from_statuses)

    async def cancel(self, qrn: str, message: str, at: str) -> bool:
        return self._store.finish_unpaid(qrn, "CANCELLED", message, at)

    async def close(self) -> None:
        self._store.close()


class SqliteBackend:
    """``Backend`` over one SQLite file; the rate limit is this process's."""

    kind = "sqlite"

    def __init__(self, store: KeyStore, limiter: FailureLimiter) -> None:
        self.store = store
        self.limits = LocalLimits(limiter)

    def account(self, account: str) -> SqliteAccountKeys:
        return SqliteAccountKeys(self.store.for_account(account))

    async def open_jobs(self, initial_credits: Decimal) -> SqliteJobs:
        """The jobs and credits in the same SQLite file (a connection of their own)."""
        return SqliteJobs(JobStore(self.store.path, initial_credits=initial_credits))

    async def verify(self, value: object, scopes: Sequence[str] = ()) -> VerifiedKey:
        return self.store.verify(value, scopes)

    async def flush(self) -> None:
        self.store.flush()

    async def close(self) -> None:
        self.store.close()


_POSTGRES = re.compile(r"^postgres(ql)?://", re.IGNORECASE)


def is_postgres_url(db: object) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database (``postgresql://...``)."""
    return isinstance(db, str) and bool(_POSTGRES.match(db))


def check_db(db: str | os.PathLike[str]) -> str:
    """The ``--db`` value as given if usable: a SQLite path or a ``postgresql://`` URL.

    ValueError (naming only the scheme, never the rest of a URL) otherwise.
    """
    text = os.fspath(db)
    if is_postgres_url(text):
        return text
    try:
        return sqlite_path(text)
    except ValueError as err:
        raise ValueError(f"{str(err)[:-1]} or a postgresql:// URL.") from None


async def open_backend(
    db: str | os.PathLike[str],
    *,
    write_through: bool,
    limiter: FailureLimiter,
) -> Backend:
    """Open the store a ``--db`` value names (PostgreSQL for a URL, else a SQLite file)."""
    if is_postgres_url(os.fspath(db)):
        try:
            from .pgstore import PgKeyStore
        except ImportError as exc:
            raise RuntimeError(
                f"PostgreSQL needs psycopg ({exc.name} is missing): "
                "pip install 'qbraid-keys-ext[postgresql]'"
            ) from None

        store = PgKeyStore(
            os.fspath(db),
            write_through=write_through,
            rate_limit=limiter.limit,
            rate_window=limiter.window,
        )
        await store.open()
        return store
    return SqliteBackend(KeyStore(db, write_through=write_through), limiter)
