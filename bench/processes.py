"""Subprocesses of a benchmark run: start, wait for their URL, always stop them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.lab_server import stop_process  # the tests' own (repo root)

REPO = Path(__file__).resolve().parents[1]
_URL = re.compile(r"(https?://127\.0\.0\.1:\d+)")
_running: list[subprocess.Popen] = []


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the repository importable and `extra` on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Server:
    """A server subprocess that prints `... http://127.0.0.1:PORT` once it listens."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, log: Path | None = None):
        self.args = args
        self.env = env or python_env()
        self.log = log
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self._lines: list[str] = []

    def start(self, timeout: float = 30.0) -> Server:
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _running.append(self.proc)
        found = threading.Event()

        def pump() -> None:
            sink = self.log.open("a") if self.log else None
            for line in self.proc.stdout:
                self._lines.append(line)
                del self._lines[:-200]
                if sink:
                    sink.write(line)
                match = _URL.search(line)
                if match and not self.url:
                    self.url = match.group(1)
                    found.set()
            if sink:
                sink.close()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"{self.args[:4]} did not start:\n{''.join(self._lines[-30:])}")
        return self

    def stop(self) -> None:
        stop(self.proc)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Terminate one process we started, kill it if it lingers."""
    stop_process(proc, timeout)
    if proc in _running:
        _running.remove(proc)


def stop_all() -> None:
    """Stop every process this run started and did not stop yet."""
    for proc in list(_running):
        stop(proc)


def load(url: str, *args: str, timeout: float = 120.0) -> dict:
    """Run `python -m bench.load URL ARGS...` in its own process; its JSON figures."""
    return finish_load(start_load(url, *args), timeout)


def wait_until(check, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check()` until it is true, or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def start_load(url: str, *args: str) -> subprocess.Popen:
    """Start `python -m bench.load URL ARGS...` in the background; see `finish_load`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load", url, *args],
        env=python_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _running.append(proc)
    return proc


def finish_load(proc: subprocess.Popen, timeout: float = 120.0) -> dict:
    """Wait for a background load generator; its JSON figures."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err[-2000:]}")
    return json.loads(out)
