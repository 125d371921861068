"""JupyterHub config: the qBraid key service as a Hub-managed service on PostgreSQL.

Load it from your own `jupyterhub_config.py` (`load_subconfig("path/to/this/file")`) or copy
it. It needs, in the Hub's environment:

- `QBRAID_KEYS_DB`: the PostgreSQL URL (`postgresql://user:password@host:5432/qbraid_keys`),
  passed to the service in its environment, never on its command line;
- optionally `QBRAID_KEYS_PORT` (default 8787): the loopback port the service listens on.

Every user's Lab then uses the service with no per-user configuration: the Hub gives each
single-user server `QBRAID_KEYS_HUB_SERVICE_URL`, and the extension authenticates there with
the server's own `JUPYTERHUB_API_TOKEN`. Each Hub user is one account: nobody sees another
user's keys. The single-user servers and the Hub need `qbraid-keys-ext[jupyterhub]`.
"""

import os
import sys

c = get_config()  # noqa: F821 (defined by JupyterHub when it loads this file)

QBRAID_KEYS = "qbraid-keys"  # the service's name: its routes are also at /services/qbraid-keys/
QBRAID_KEYS_URL = f"http://127.0.0.1:{int(os.environ.get('QBRAID_KEYS_PORT', '8787'))}"

# `append`/`update` add to what your own config sets, before or after loading this file.
c.JupyterHub.services.append(
    {
        "name": QBRAID_KEYS,
        "url": QBRAID_KEYS_URL,  # it listens here (from JUPYTERHUB_SERVICE_URL)
        "command": [sys.executable, "-m", "qbraid_keys_ext.service", "--jupyterhub"],
        "environment": {"QBRAID_KEYS_DB": os.environ["QBRAID_KEYS_DB"]},
        "display": False,
    }
)

# Users, and the tokens of their servers, may use the service: its HubAuth requires
# `access:services!service=qbraid-keys`, which JupyterHub's default roles do not grant.
ACCESS = f"access:services!service={QBRAID_KEYS}"
c.JupyterHub.load_roles.append({"name": "user", "scopes": ["self", ACCESS]})
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", ACCESS]

# Every single-user server finds the service here (no per-user configuration).
c.Spawner.environment.update({"QBRAID_KEYS_HUB_SERVICE_URL": QBRAID_KEYS_URL})
