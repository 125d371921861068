"""Routes of qBraid's runtime API on the key service (Contract 5): devices, jobs, credits.

Each route needs one scope. A request authenticates with ``X-API-Key`` (the key must be
active and hold the scope; each request is one use of the key, counted by the store's
``verify``) or the way management requests do (the account token ``X-Access-Token``, or as
a JupyterHub service the user's Hub token), with every scope. Jobs, their listing and the
credit balance are the authenticated account's: another account's job is 404. A wrong key
or token goes through the same per-client failure limit as ``users/verify``; a missing
scope is 403 ``INSUFFICIENT_SCOPE`` naming it.

Jobs and credits are stored beside the keys: in the SQLite file (``jobstore.py``) or the
PostgreSQL database (``pgjobstore.py``), where every process sharing it answers for every job.
"""

from __future__ import annotations

from typing import Any

from .app import BaseHandler
from .jobs import QuantumJobs
from .store import KeyServiceError

JOB_BODY_MAX = 512 * 1024  # above every device's program limit, so a large program FAILs


class RuntimeHandler(BaseHandler):
    """A runtime route: key or account authentication, one scope per method."""

    needs_token = False

    def initialize(self, jobs: QuantumJobs, **args: Any) -> None:  # type: ignore[override]
        super().initialize(**args)
        self.jobs = jobs

    async def authorize(self, scope: str) -> str | None:
        """Check the caller may use ``scope``; set ``self.account``; return the key id.

        The key id is None for a request authenticated as the account (token or Hub token).
        """
        value = self.request.headers.get("X-API-Key")
        if value is not None:
            try:
                key = await self.backend.verify(value, [scope])
            except KeyServiceError as err:
                if err.status != 401:
                    raise
                await self.refuse(err)
            self.account = key.account
            return key.id
        account = await self.auth.account(self.request.headers)
        if account is not None:
            self.account = account
            return None
        await self.refuse(
            KeyServiceError(
                401,
                "UNAUTHORIZED",
                "Send an API key in the X-API-Key header (or the account's X-Access-Token)."
                if self.auth.hub_auth is None
                else "Send an API key in the X-API-Key header (or a JupyterHub API token).",
            )
        )


class DevicesHandler(RuntimeHandler):
    async def get(self) -> None:
        await self.authorize("devices:read")
        self.reply(await self.jobs.devices())


class DeviceHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        await self.authorize("devices:read")
        self.reply(await self.jobs.device(qrn))


class JobsHandler(RuntimeHandler):
    max_body = JOB_BODY_MAX

    async def get(self) -> None:
        await self.authorize("jobs:read")
        query = {name: self.get_query_arguments(name) for name in self.request.query_arguments}
        jobs, pagination = await self.jobs.list_jobs(self.account, query)
        self.reply(jobs, pagination=pagination)

    async def post(self) -> None:
        key_id = await self.authorize("jobs:write")
        qrn = await self.jobs.submit(self.account, self.json_body(), key_id)
        await self.jobs.wait_ended(qrn, self.jobs.submit_wait)  # a small job answers COMPLETED
        self.reply(await self.jobs.job(self.account, qrn), status=201)


class JobHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        await self.authorize("jobs:read")
        self.reply(await self.jobs.job(self.account, qrn))


class JobResultHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        await self.authorize("jobs:read")
        self.reply(await self.jobs.result(self.account, qrn))


class JobProgramHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        await self.authorize("jobs:read")
        self.reply(await self.jobs.program(self.account, qrn))


class JobCancelHandler(RuntimeHandler):
    async def post(self, qrn: str) -> None:
        await self.authorize("jobs:write")
        self.reply(await self.jobs.cancel(self.account, qrn))


class CreditsHandler(RuntimeHandler):
    async def get(self) -> None:
        await self.authorize("credits:read")
        organization = self.get_query_argument("organizationId", None)
        self.reply(await self.jobs.balance(self.account, organization))
