"""Quantum jobs on the key service: the rules of Contract 5 between the routes and the store.

``QuantumJobs`` checks a submission, charges its cost and stores it QUEUED (``jobstore.py``),
then runs it outside the event loop: each of ``workers`` slots takes the next QUEUED job,
marks it RUNNING and waits, in a thread, for a simulator process (``simulator.py``) to answer,
within the device's run-time limit. The job ends COMPLETED with its counts, FAILED with a
sentence (a program that does not parse, has too many qubits, is too large or runs too long),
or CANCELLED. FAILED and CANCELLED jobs cost nothing: their charge is given back.

The store is SQLite (``jobstore.py``) or PostgreSQL (``pgjobstore.py``), through the async
``backends.JobTables``. Any number of processes may share a PostgreSQL database: a job runs in
the process that accepted it, and any process answers its status, result, listing and cancel
from the database. While a job runs, its slot reads its status every ``WATCH_SECONDS``, so a
cancel made by another process stops the simulator within that time.

Restart: jobs still QUEUED or RUNNING when their process stopped (even by SIGKILL) are run
again, in submission order, since their program and charge are stored: on SQLite when the
service starts again, on PostgreSQL by the next process that starts or, within
``SWEEP_SECONDS``, by one that runs (``take_over``). A job that was interrupted
``MAX_ATTEMPTS`` times ends FAILED instead, so a job that brings the service down cannot do
it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from .accounts import identity
from .backends import JobTables
from .devices import DEFAULT_SHOTS, DEVICES, Device
from .jobstore import PENDING, TERMINAL, InsufficientCredits, JobFilter, JobRow, stamp
from .simulator import SimulationFailed, Worker
from .store import KeyServiceError, quote, validation_error

log = logging.getLogger(__name__)

DEFAULT_CREDITS = Decimal(1000)
MAX_ATTEMPTS = 3
JOB_STATUSES = (
    "INITIALIZING",
    "QUEUED",
    "VALIDATING",
    "RUNNING",
    "CANCELLING",
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "UNKNOWN",
    "HOLD",
)
WATCH_SECONDS = 0.5  # a running job's status is read this often (a cancel from elsewhere)
SWEEP_SECONDS = 5.0  # pending jobs of processes that are gone are taken over this often
SUBMIT_WAIT = 5.0  # seconds POST /jobs waits for the job to end (the SDK polls every 5 s)
STATUS_GROUPS = {"pending": PENDING, "returned": TERMINAL, "all": ()}
PAGE_MAX = 100
NAME_MAX = 256
TAGS_MAX = 50


def default_workers() -> int:
    """Simulator processes: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


class QuantumJobs:
    """Devices of one key service; jobs and credits of each of its accounts.

    Every job call names the account it works on (the request's); another account's job is
    404, and each account has its own balance (the store's initial credits until its first job).
    """

    def __init__(self, *, workers: int | None = None, submit_wait: float = SUBMIT_WAIT) -> None:
        self._workers = [Worker() for _ in range(workers or default_workers())]
        self._store: JobTables | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[str] | None = None
        self._slots: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._running: dict[str, tuple[Worker, threading.Event]] = {}
        self._warmed = False
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._pending: set[str] = set()  # QUEUED or RUNNING here
        self.submit_wait = submit_wait

    # -- life cycle ----------------------------------------------------------------------

    async def start(self, store: JobTables) -> None:
        """Work on ``store``: queue the jobs left pending, start the slots (no process yet)."""
        self._store = store
        self._workers = [Worker() for _ in self._workers]  # closed ones cannot start again
        self._threads = ThreadPoolExecutor(len(self._workers), thread_name_prefix="qbraid-jobs")
        self._queue = asyncio.Queue()
        self._warmed = False
        self._pending.clear()
        await self._take_over()
        self._slots = [asyncio.create_task(self._slot(w)) for w in self._workers]
        self._sweeper = asyncio.create_task(self._sweep())

    async def _take_over(self) -> None:
        """Queue the pending jobs no live process runs (a RUNNING one was interrupted)."""
        for job in await self.store.take_over():
            if job.attempts >= MAX_ATTEMPTS:
                await self.store.finish_unpaid(
                    job.qrn,
                    "FAILED",
                    f"The key service stopped while running this job {job.attempts} times; "
                    "it was not run again.",
                    stamp(),
                )
                continue
            await self.store.requeue(job.qrn)
            self._queue_put(job.qrn)

    async def _sweep(self) -> None:
        """Take over, every ``SWEEP_SECONDS``, the jobs of processes that are gone."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._take_over()
            except Exception:
                log.exception("Could not take over the jobs of stopped processes")

    async def stop(self) -> None:
        """Stop the slots and the simulator processes; pending jobs stay pending in the DB."""
        tasks = [*self._slots, *filter(None, [self._sweeper])]
        for task in tasks:
            task.cancel()
        for qrn in list(self._waiters):
            self._ended(qrn)
        for worker in self._workers:
            worker.close()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._slots, self._sweeper = [], None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    @property
    def store(self) -> JobTables:
        if self._store is None:
            raise RuntimeError("The job runner is not started.")
        return self._store

    # -- devices -------------------------------------------------------------------------

    async def devices(self) -> list[dict[str, Any]]:
        """Every device object, with its queue depth."""
        self.warm()  # listing devices comes before running jobs
        depths = await self.store.queue_depths()
        return [d.as_json(depths.get(q, 0)) for q, d in DEVICES.items()]

    async def device(self, qrn: str) -> dict[str, Any]:
        """One device object, or 404."""
        device = DEVICES.get(qrn)
        if device is None:
            raise KeyServiceError(404, "NOT_FOUND", f"No device with QRN {quote(qrn)} exists.")
        self.warm()
        return device.as_json((await self.store.queue_depths()).get(qrn, 0))

    # -- credits -------------------------------------------------------------------------

    async def balance(self, account: str, organization_id: str | None) -> dict[str, Any]:
        """The account's credit balance, in qbraid-core's ``get_credits_balance`` shape."""
        user = identity(account)
        org = user["organizationId"]
        if organization_id not in (None, "", org):
            raise KeyServiceError(
                404, "NOT_FOUND", f"No organization {quote(organization_id)} in this account."
            )
        return {
            "qbraidCredits": float(await self.store.balance(account)),
            "awsCredits": 0.0,
            "autoRecharge": "off",
            "organizationId": org,
            "userId": user["userId"],
        }

    # -- jobs ----------------------------------------------------------------------------

    async def submit(self, account: str, fields: Mapping[str, Any], key_id: str | None) -> str:
        """Check a ``POST /jobs`` body, charge it and queue it; return the job's QRN."""
        device = _device_of(fields.get("deviceQrn"))
        shots = _shots(fields.get("shots"), device)
        program_format, data = _program(fields.get("program"), device)
        name = fields.get("name")
        if name is not None and (
            not isinstance(name, str) or len(name) > NAME_MAX or not _is_text(name)
        ):
            raise validation_error(f"The name must be a string of at most {NAME_MAX} characters.")
        tags = _tags(fields.get("tags"))
        options = fields.get("runtimeOptions")
        if options is None:
            options = {}
        if not isinstance(options, dict) or not _is_json(options):
            raise validation_error("runtimeOptions must be an object of JSON values.")
        seed = options.get("seed")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
        ):
            raise validation_error("runtimeOptions.seed must be a non-negative integer.")
        if fields.get("groupJobQrn") is not None:
            raise validation_error("Group jobs are not supported by this key service.")
        qrn = f"{device.qrn}-{secrets.token_hex(8)}"
        try:
            await self.store.insert(
                {
                    "qrn": qrn,
                    "account": account,
                    "key_id": key_id,
                    "device_qrn": device.qrn,
                    "name": name,
                    "shots": shots,
                    "tags": tags,
                    "runtime_options": options,
                    "program_format": program_format,
                    "program_data": data,
                    "estimated_cost": device.pricing.cost(shots),
                    "created_at": stamp(),
                }
            )
        except InsufficientCredits as err:
            raise KeyServiceError(
                402,
                "INSUFFICIENT_CREDITS",
                f"This job costs {err.needed.normalize():f} credits and the account has "
                f"{err.balance.normalize():f}; nothing was charged.",
            ) from None
        size = len(data.encode("utf-8"))
        if size > device.limits.max_program_bytes:
            await self.store.finish_unpaid(
                qrn,
                "FAILED",
                f"The program is {size:,} bytes; this device takes at most "
                f"{device.limits.max_program_bytes:,}.",
                stamp(),
            )
        else:
            self._queue_put(qrn)
            self.warm()
        return qrn

    async def wait_ended(self, qrn: str, timeout: float) -> None:
        """Return once the job has ended, or after ``timeout`` seconds."""
        if timeout <= 0 or qrn not in self._pending:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(qrn, [])
        waiting.append(future)
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(qrn, None)

    def _ended(self, qrn: str) -> None:
        """Forget a job that ended; wake whoever waits for it."""
        self._pending.discard(qrn)
        for future in self._waiters.pop(qrn, []):
            if not future.done():
                future.set_result(None)

    async def job(self, account: str, qrn: str) -> dict[str, Any]:
        """One job object of the account, or 404."""
        return await self._job_object(await self._row(account, qrn))

    async def result(self, account: str, qrn: str) -> dict[str, Any]:
        """A job's result: counts once COMPLETED, else its status and no data."""
        row = await self._row(account, qrn)
        answer = {
            "status": row.status,
            "statusMsg": row.status_msg,
            "cost": float(row.cost or 0),
            "timeStamps": _time_stamps(row),
            "resultData": row.result or {},
        }
        return answer

    async def program(self, account: str, qrn: str) -> dict[str, Any]:
        """The program a job was submitted with."""
        row = await self._row(account, qrn)
        return {"format": row.program_format, "data": row.program_data}

    async def cancel(self, account: str, qrn: str) -> dict[str, Any]:
        """Cancel a QUEUED or RUNNING job (its charge is given back); 400 once it has ended.

        The job may be another process's: that one's slot sees the change (``_watch``)."""
        row = await self._row(account, qrn)
        if row.status in TERMINAL:
            raise validation_error(
                f"The job is already {row.status}; only QUEUED or RUNNING jobs can be cancelled."
            )
        message = "Cancelled while running." if row.status == "RUNNING" else "Cancelled."
        await self.store.cancel(qrn, message, stamp())
        self._ended(qrn)
        running = self._running.get(qrn)
        if running is not None:
            worker, cancelled = running
            cancelled.set()
            worker.stop()  # its slot sees the job is no longer RUNNING and moves on
        return await self.job(account, qrn)

    async def list_jobs(
        self, account: str, query: Mapping[str, list[str]]
    ) -> tuple[list[dict[str, Any]], dict]:
        """A page of the account's jobs, newest first, and its ``pagination``."""
        page = _int_arg(query, "page", 1, 1, 10**9)
        limit = _int_arg(query, "limit", PAGE_MAX, 1, PAGE_MAX)
        statuses: tuple[str, ...] = ()
        status = _one(query, "status")
        if status is not None:
            if status.upper() not in JOB_STATUSES:
                raise validation_error(f"Unknown status {quote(status)}.")
            statuses = (status.upper(),)
        group = _one(query, "statusGroup")
        if group is not None:
            if group not in STATUS_GROUPS:
                raise validation_error("statusGroup must be one of: pending, returned, all.")
            wanted = STATUS_GROUPS[group]
            statuses = tuple(s for s in statuses if s in wanted) if statuses else wanted
            if status is not None and not statuses:
                statuses = ("NONE",)
        tags = None
        raw_tags = _one(query, "tags")
        if raw_tags is not None:
            try:
                tags = json.loads(raw_tags)
            except (ValueError, RecursionError):
                tags = None
            if not isinstance(tags, dict):
                raise validation_error('tags must be a JSON object, e.g. {"experiment": "bell"}.')
        where = JobFilter(
            statuses=statuses,
            vendor=_one(query, "vendor"),
            provider=_one(query, "provider"),
            device_qrn=_one(query, "deviceQrn"),
            tags=tags,
            search=_one(query, "search"),
        )
        texts = [where.vendor, where.provider, where.device_qrn, where.search, tags]
        if _storable(texts):
            rows, total = await self.store.list(account, where, limit, (page - 1) * limit)
        else:  # no stored job holds such text
            rows, total = [], 0
        pages = math.ceil(total / limit) if total else 0
        pagination = {
            "page": page,
            "limit": limit,
            "total": total,
            "totalPages": pages,
            "hasNext": page < pages,
            "hasPrev": page > 1,
        }
        return [await self._job_object(r) for r in rows], pagination

    # -- running -------------------------------------------------------------------------

    def warm(self) -> None:
        """Start the simulator processes in the background (once), before the first job."""
        if self._warmed or self._threads is None:
            return
        self._warmed = True
        for worker in self._workers:
            future = self._threads.submit(worker.warm)
            future.add_done_callback(lambda f: f.exception())  # failures show on a job

    def _queue_put(self, qrn: str) -> None:
        if self._queue is None:
            raise RuntimeError("The job runner is not started.")
        self._pending.add(qrn)
        self._queue.put_nowait(qrn)

    async def _slot(self, worker: Worker) -> None:
        """Run queued jobs one after another on one simulator process."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            qrn = await self._queue.get()
            try:
                await self._run(qrn, worker, loop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Job %s could not be run", qrn)
                await self.store.finish_unpaid(
                    qrn, "FAILED", "The key service failed to run this job.", stamp()
                )
            self._ended(qrn)

    async def _run(self, qrn: str, worker: Worker, loop: asyncio.AbstractEventLoop) -> None:
        job = await self.store.get_any(qrn)
        if job is None or job.status != "QUEUED":
            return  # cancelled while queued (by any process)
        device = DEVICES.get(job.device_qrn)
        if device is None:
            await self.store.finish_unpaid(qrn, "FAILED", "The device no longer exists.", stamp())
            return
        if not await self.store.start(qrn, stamp()):
            return  # cancelled meanwhile, or no longer this process's
        request = {
            "format": job.program_format,
            "data": job.program_data,
            "shots": job.shots,
            "maxQubits": device.limits.max_qubits,
            "seed": job.runtime_options.get("seed"),
        }
        cancelled = threading.Event()
        self._running[qrn] = (worker, cancelled)
        started = time.perf_counter()
        try:
            run = loop.run_in_executor(
                self._threads, worker.run, request, device.limits.max_run_seconds, cancelled
            )
            answer = await self._watch(qrn, run, worker, cancelled)
        except SimulationFailed as err:
            await self.store.finish_unpaid(
                qrn, "FAILED", str(err), stamp(), from_statuses=("RUNNING",)
            )
            return
        finally:
            self._running.pop(qrn, None)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        await self.store.complete(qrn, {"measurementCounts": answer["counts"]}, stamp(), elapsed_ms)

    async def _watch(
        self,
        qrn: str,
        run: asyncio.Future[dict[str, Any]],
        worker: Worker,
        cancelled: threading.Event,
    ) -> dict[str, Any]:
        """Wait for a run; stop its simulator if the job stops being RUNNING meanwhile (a
        cancel, perhaps by another process)."""
        while not cancelled.is_set():
            done, _ = await asyncio.wait({run}, timeout=WATCH_SECONDS)
            if done:
                break
            job = await self.store.get_any(qrn)
            if job is None or job.status != "RUNNING":
                cancelled.set()
                worker.stop()
        return await run

    # -- helpers -------------------------------------------------------------------------

    async def _row(self, account: str, qrn: str) -> JobRow:
        row = await self.store.get(account, qrn) if _is_text(qrn) else None
        if row is None:
            raise KeyServiceError(404, "NOT_FOUND", f"No job with QRN {quote(qrn)} exists.")
        return row

    async def _job_object(self, row: JobRow) -> dict[str, Any]:
        """A job in qbraid-core's ``RuntimeJob`` shape."""
        vendor, provider = row.device_qrn.split(":")[:2]
        return {
            "jobQrn": row.qrn,
            "name": row.name,
            "shots": row.shots,
            "deviceQrn": row.device_qrn,
            "tags": row.tags,
            "runtimeOptions": row.runtime_options,
            "groupJobQrn": None,
            "vendor": vendor,
            "provider": provider,
            "status": row.status,
            "statusMsg": row.status_msg,
            "experimentType": "gate_model",
            "queuePosition": (
                await self.store.queue_position(row) if row.status == "QUEUED" else None
            ),
            "timeStamps": _time_stamps(row),
            "cost": None if row.cost is None else float(row.cost),
            "estimatedCost": float(row.estimated_cost),
            "metadata": {"keyId": row.key_id, "startedAt": row.started_at},
            "numCircuits": 1,
        }


def _time_stamps(row: JobRow) -> dict[str, Any]:
    return {
        "createdAt": row.created_at,
        "endedAt": row.ended_at,
        "executionDuration": row.execution_ms,
    }


def _device_of(qrn: object) -> Device:
    if not isinstance(qrn, str) or not qrn:
        raise validation_error("deviceQrn is required: the QRN of a device from GET /devices.")
    device = DEVICES.get(qrn)
    if device is None:
        raise validation_error(f"No device with QRN {quote(qrn)}; devices: {', '.join(DEVICES)}.")
    missing = device.missing_packages()
    if missing:
        raise validation_error(
            f"The device {device.qrn} is offline: this key service lacks {', '.join(missing)}."
        )
    return device


def _shots(shots: object, device: Device) -> int:
    if shots is None:
        return min(DEFAULT_SHOTS, device.limits.max_shots)
    if (
        isinstance(shots, bool)
        or not isinstance(shots, int)
        or not (1 <= shots <= device.limits.max_shots)
    ):
        raise validation_error(
            f"shots must be a whole number from 1 to {device.limits.max_shots:,} on this device."
        )
    return shots


def _program(program: object, device: Device) -> tuple[str, str]:
    formats = ", ".join(device.run_input_types)
    if isinstance(program, list):
        raise validation_error("This device runs one program per job (no batch jobs).")
    if not isinstance(program, dict):
        raise validation_error(f'program is required: {{"format": one of {formats}, "data"}}.')
    program_format, data = program.get("format"), program.get("data")
    if program_format not in device.run_input_types:
        raise validation_error(f"This device takes programs of format {formats}.")
    if not isinstance(data, str) or not _is_text(data):
        raise validation_error(
            "program.data must be the program's text (valid Unicode, no NUL characters)."
        )
    return program_format, data


def _is_text(text: str) -> bool:
    """Whether ``text`` can be stored (no lone surrogates, no NUL: PostgreSQL holds neither)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _is_json(value: object) -> bool:
    """Whether ``value`` encodes as strict JSON (no NaN or infinities) of storable text."""
    try:
        json.dumps(value, allow_nan=False)
        return _storable(value)
    except (ValueError, RecursionError):
        return False


def _storable(value: object) -> bool:
    """Whether every string in a JSON value (keys too) can be stored."""
    if isinstance(value, str):
        return _is_text(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def _tags(tags: object) -> dict[str, Any]:
    if tags is None:
        return {}
    if (
        not isinstance(tags, dict)
        or len(tags) > TAGS_MAX
        or not all(isinstance(v, str | int | bool) for v in tags.values())
        or not _is_json(tags)
    ):
        raise validation_error(
            f"tags must be an object of at most {TAGS_MAX} string, number or boolean values."
        )
    return tags


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int_arg(query: Mapping[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = _one(query, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise validation_error(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)
