"""Keyring backends for tests: our file backend, and a real Secret Service when installable.

`keyring_backend` is parametrised: `file` (QBRAID_KEYS_KEYRING=file, an isolated file) and
`secret-service` (a private D-Bus session bus plus `gnome-keyring-daemon --unlock`, started
for the test and stopped after it; skipped with the reason when the binaries are missing:
Debian packages `dbus` and `gnome-keyring`). The environment is set before the server
starts, so the server and its kernels resolve the same keyring.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PASSWORD = "qbraid-keys-test-password"
NEEDED = ("dbus-daemon", "gnome-keyring-daemon")

# A session bus with no service directories: nothing is D-Bus-activated behind our back (an
# activated second gnome-keyring-daemon would race ours for org.freedesktop.secrets).
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class SecretService:
    """A private session bus with an unlocked GNOME Keyring on it."""

    def __init__(self, unlock: bool = True) -> None:
        self.unlock = unlock
        self.address = ""
        self._procs: list[subprocess.Popen] = []
        self._runtime = Path(tempfile.mkdtemp(prefix="qbraid-keys-bus-"))

    def __enter__(self) -> SecretService:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        home = self._runtime / "home"
        home.mkdir()
        env = dict(
            os.environ,
            XDG_RUNTIME_DIR=str(self._runtime),
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
        )
        config = self._runtime / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket_dir=self._runtime))
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self._procs.append(bus)
        self.address = bus.stdout.readline().strip()
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if self.unlock:
            args.append("--unlock")
        self._log = self._runtime / "gnome-keyring.log"
        with self._log.open("w") as log:
            daemon = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
                text=True,
            )
        self._procs.append(daemon)
        if self.unlock:
            daemon.stdin.write(PASSWORD)
        daemon.stdin.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import secretstorage

        old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = self.address
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    connection = secretstorage.dbus_init()
                    try:
                        if not self.unlock:
                            if secretstorage.check_service_availability(connection):
                                return
                        elif not secretstorage.Collection(connection).is_locked():
                            return
                    finally:
                        connection.close()
                except Exception:
                    pass
                time.sleep(0.1)
            log = self._log.read_text(errors="replace")[-800:]
            raise RuntimeError(f"gnome-keyring-daemon did not come up on the test bus: {log}")
        finally:
            if old is None:
                os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SESSION_BUS_ADDRESS"] = old

    def __exit__(self, *exc: object) -> None:
        """Stop the daemon and the bus (the daemon's helper exits with its bus)."""
        for proc in reversed(self._procs):
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(self._runtime, ignore_errors=True)


def secret_service_missing() -> str | None:
    """Why the Secret Service variant cannot run here, or None."""
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: apt-get install dbus gnome-keyring)"
    try:
        import secretstorage  # noqa: F401
    except ImportError:
        return "the secretstorage Python package is missing"
    return None


@pytest.fixture(params=["file", "secret-service"])
def keyring_backend(request, monkeypatch, tmp_path) -> Iterator[str]:
    """Run the test on our file backend, then on a real Secret Service (where installable)."""
    monkeypatch.setenv("QBRAID_KEYS_KEYRING_FILE", str(tmp_path / "keyring" / "keyring.json"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    if request.param == "file":
        monkeypatch.setenv("QBRAID_KEYS_KEYRING", "file")
        yield "file"
        return
    reason = secret_service_missing()
    if reason:
        pytest.skip(f"Secret Service variant skipped: {reason}")
    with SecretService() as service:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
        monkeypatch.setenv("QBRAID_KEYS_KEYRING", "system")
        yield "secret-service"
