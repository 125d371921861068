"""Routes of qBraid's runtime API on the key service (Contract 5): devices, jobs, credits.

Each route needs one scope. A request authenticates with ``X-API-Key`` (the key must be
active and hold the scope; each request is one use of the key, counted by
``KeyStore.verify``) or with the account's ``X-Access-Token`` (every scope). A wrong key or
token goes through the same per-client failure limit as ``users/verify``; a missing scope is
403 ``INSUFFICIENT_SCOPE`` naming it.
"""

from __future__ import annotations

import hmac
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

    def authorize(self, scope: str) -> str | None:
        """Check the caller may use ``scope``; return the key id (None for the account)."""
        value = self.request.headers.get("X-API-Key")
        if value is not None:
            try:
                return self.store.verify(value, [scope]).id
            except KeyServiceError as err:
                if err.status != 401:
                    raise
                self.refuse(err)
        token = self.request.headers.get("X-Access-Token")
        if token is not None and hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), self.access_token.encode("utf-8")
        ):
            return None
        self.refuse(
            KeyServiceError(
                401,
                "UNAUTHORIZED",
                "Send an API key in the X-API-Key header (or the account's X-Access-Token).",
            )
        )


class DevicesHandler(RuntimeHandler):
    async def get(self) -> None:
        self.authorize("devices:read")
        self.reply(self.jobs.devices())


class DeviceHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        self.authorize("devices:read")
        self.reply(self.jobs.device(qrn))


class JobsHandler(RuntimeHandler):
    max_body = JOB_BODY_MAX

    async def get(self) -> None:
        self.authorize("jobs:read")
        query = {name: self.get_query_arguments(name) for name in self.request.query_arguments}
        jobs, pagination = self.jobs.list_jobs(query)
        self.reply(jobs, pagination=pagination)

    async def post(self) -> None:
        key_id = self.authorize("jobs:write")
        qrn = self.jobs.submit(self.json_body(), key_id)
        await self.jobs.wait_ended(qrn, self.jobs.submit_wait)  # a small job answers COMPLETED
        self.reply(self.jobs.job(qrn), status=201)


class JobHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        self.authorize("jobs:read")
        self.reply(self.jobs.job(qrn))


class JobResultHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        self.authorize("jobs:read")
        self.reply(self.jobs.result(qrn))


class JobProgramHandler(RuntimeHandler):
    async def get(self, qrn: str) -> None:
        self.authorize("jobs:read")
        self.reply(self.jobs.program(qrn))


class JobCancelHandler(RuntimeHandler):
    async def post(self, qrn: str) -> None:
        self.authorize("jobs:write")
        self.reply(self.jobs.cancel(qrn))


class CreditsHandler(RuntimeHandler):
    async def get(self) -> None:
        self.authorize("credits:read")
        self.reply(self.jobs.balance(self.get_query_argument("organizationId", None)))
