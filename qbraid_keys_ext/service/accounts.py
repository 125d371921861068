"""Who is calling: the account a management request works on, and its identity on verify.

Two ways in, either or both per service:

- the **account token** (``X-Access-Token``): the account ``local``, the embedded service's
  one account and a standalone service's shared one;
- as a **JupyterHub service**, the user's Hub API token (``Authorization: token <token>``,
  a single-user server's ``JUPYTERHUB_API_TOKEN`` or any token of that user): the account
  ``hub:<user name>``. JupyterHub's ``HubAuth`` (the object behind its ``HubAuthenticated``
  mixin, called asynchronously here: the mixin's ``get_current_user`` blocks) asks the Hub
  who the token belongs to (cached for ``cache_max_age`` seconds, 5 minutes by default), and
  the token must hold ``access:services!service=<this service>``, as the mixin requires.

Accounts are plain strings in the store: every key, usage count and event carries one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from .store import ACCOUNT as LOCAL
from .store import KeyServiceError

log = logging.getLogger(__name__)

HUB_PREFIX = "hub:"
LOCAL_IDENTITY = {
    "userId": "local-user",
    "email": "local@qbraid-keys.invalid",
    "organizationId": "local-org",
    "organizationUserId": "local-org-user",
}
"""What verify says about the ``local`` account."""


def hub_account(user: str) -> str:
    """The account of a JupyterHub user."""
    return HUB_PREFIX + user


def identity(account: str) -> dict[str, str]:
    """The user fields of a verify answer for an account."""
    if account == LOCAL:
        return LOCAL_IDENTITY
    user = account.removeprefix(HUB_PREFIX)
    return {
        "userId": user,
        "email": user if "@" in user else f"{user}@jupyterhub.invalid",
        "organizationId": "jupyterhub" if account.startswith(HUB_PREFIX) else account,
        "organizationUserId": account,
    }


class Authenticator:
    """Maps a request's credentials to an account (None: not authenticated)."""

    def __init__(self, access_token: str = "", hub_auth: Any = None) -> None:
        if not access_token and hub_auth is None:
            raise ValueError("The key service needs an access token or JupyterHub.")
        self._token = access_token.encode("utf-8")
        self.hub_auth = hub_auth
        wanted = []
        if access_token:
            wanted.append("a valid X-Access-Token header")
        if hub_auth is not None:
            wanted.append("a JupyterHub API token (Authorization: token ...)")
        text = " or ".join(wanted)
        self.missing = f"{text[0].upper()}{text[1:]} is required."

    def has_account_token(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the account token."""
        given = headers.get("X-Access-Token", "")
        return bool(self._token) and hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self._token
        )

    async def account(self, headers: Mapping[str, str]) -> str | None:
        """The account these request headers authenticate, or None.

        502 UPSTREAM_UNAVAILABLE when JupyterHub cannot be asked (not an authentication
        failure: it is not counted against the client's limit)."""
        if self.hub_auth is None or "X-Access-Token" in headers:
            return LOCAL if self.has_account_token(headers) else None
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("token", "bearer") or not token:
            return None
        try:
            user = await self.hub_auth.user_for_token(token, sync=False)
        except Exception as err:  # the Hub is down: no answer, and no failure counted
            log.warning("qBraid keys: could not check a token with JupyterHub: %s", err)
            raise KeyServiceError(
                502,
                "UPSTREAM_UNAVAILABLE",
                "JupyterHub did not answer whose token this is; try again shortly.",
            ) from None
        if not user or user.get("kind", "user") != "user" or not user.get("name"):
            return None
        needed = self.hub_auth.access_scopes  # access:services!service=<this service>
        if needed and not self.hub_auth.check_scopes(needed, user):
            log.warning(
                "qBraid keys: Hub user %s lacks the scope %s; see docs/jupyterhub.md",
                user["name"],
                " or ".join(sorted(needed)),
            )
            return None
        return hub_account(user["name"])


def hub_auth_from_environment() -> Any:
    """JupyterHub's ``HubAuth`` for this service, configured by the Hub's environment.

    A Hub-managed service gets ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_API_URL`` and
    ``JUPYTERHUB_SERVICE_NAME`` from the Hub; an external one sets them itself.
    """
    try:
        from jupyterhub.services.auth import HubAuth
    except ImportError:
        raise RuntimeError(
            "--jupyterhub needs the jupyterhub package: pip install 'qbraid-keys-ext[jupyterhub]'"
        ) from None
    auth = HubAuth()
    if not auth.api_token:
        raise RuntimeError("--jupyterhub: JUPYTERHUB_API_TOKEN is not set (run as a Hub service)")
    return auth
