"""Run code in a real kernel started by the real Jupyter server, and keep every message.

Use it from an async test that has pytest-jupyter's `jp_serverapp`::

    async with KernelSession(jp_serverapp) as kernel:
        run = await kernel.execute("%load_ext qbraid_keys_ext")
        assert run.ok, run.error_text
        run.stdout, run.stderr, run.outputs, run.reply      # what this execute produced
        kernel.raw_text()                                   # every message so far, as JSON text

The kernel is started through `kernel_manager.start_kernel()` like Lab starts one, so it
inherits the server's environment (HOME, Jupyter dirs, JPY_PARENT_PID = this process) and
finds the server through its runtime file. Every shell, iopub and stdin message the kernel
sends is kept (`messages`) so tests can check that a value never left the kernel.

Never print a key value from a test: use `assert_absent`, whose failure message names the
place, not the value.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SOURCE_TREE = str(Path(__file__).resolve().parents[1])


def assert_absent(value: str, text: str, where: str) -> None:
    """Fail (without showing `value`) if `value` occurs in `text`."""
    if value and value in text:
        pytest.fail(f"a key value leaked into {where}", pytrace=False)


@dataclass
class Run:
    """The messages of one execute request."""

    reply: dict[str, Any]
    iopub: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the execution succeeded."""
        return self.reply["content"]["status"] == "ok"

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.iopub
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        """Everything printed to stdout."""
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        """Everything printed to stderr."""
        return self._stream("stderr")

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The output messages, as nbformat outputs (for building a notebook)."""
        import nbformat

        kinds = ("stream", "display_data", "execute_result", "error", "update_display_data")
        return [
            nbformat.v4.output_from_msg(m)
            for m in self.iopub
            if m["msg_type"] in kinds and m["msg_type"] != "update_display_data"
        ]

    @property
    def error_text(self) -> str:
        """The error name, value and traceback lines of a failed execution, or ''."""
        content = self.reply["content"]
        if content["status"] != "error":
            return ""
        return "\n".join(
            [content.get("ename", ""), content.get("evalue", ""), *content.get("traceback", [])]
        )


class KernelSession:
    """A kernel of the server under test, with a client that records every message."""

    def __init__(self, serverapp: Any, env: dict[str, str] | None = None) -> None:
        self.serverapp = serverapp
        self.extra_env = env or {}
        self.kernel_id: str | None = None
        self.client: Any = None
        self.messages: list[dict[str, Any]] = []

    async def __aenter__(self) -> KernelSession:
        env = dict(os.environ)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = SOURCE_TREE + (os.pathsep + path if path else "")
        env.update(self.extra_env)
        manager = self.serverapp.kernel_manager
        self.kernel_id = await manager.start_kernel(env=env)
        self.client = manager.get_kernel(self.kernel_id).client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.kernel_id is not None:
            await self.serverapp.kernel_manager.shutdown_kernel(self.kernel_id, now=True)

    async def execute(
        self, code: str, *, stdin: list[str] | None = None, timeout: float = 30.0
    ) -> Run:
        """Run `code`; answer input requests from `stdin`; return its reply and messages."""
        client = self.client
        answers = list(stdin or [])
        msg_id = client.execute(code, allow_stdin=bool(stdin), store_history=True)
        run_iopub: list[dict[str, Any]] = []
        reply: dict[str, Any] | None = None
        idle = False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not finish {code[:40]!r} in {timeout}s")
            progressed = False
            while True:
                try:
                    msg = await client.get_iopub_msg(timeout=0.05)
                except Exception:
                    break
                progressed = True
                self.messages.append(msg)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    run_iopub.append(msg)
                    if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        idle = True
            if answers:
                try:
                    request = await client.get_stdin_msg(timeout=0.05)
                except Exception:
                    request = None
                if request is not None:
                    self.messages.append(request)
                    client.input(answers.pop(0))
                    progressed = True
            if reply is None:
                try:
                    msg = await client.get_shell_msg(timeout=0.05)
                except Exception:
                    msg = None
                if msg is not None:
                    self.messages.append(msg)
                    if msg.get("parent_header", {}).get("msg_id") == msg_id:
                        reply = msg
                    progressed = True
            if not progressed:
                await asyncio.sleep(0.01)
        return Run(reply=reply, iopub=run_iopub)

    def raw_text(self) -> str:
        """Every message received from the kernel so far, as one JSON text."""
        return json.dumps(self.messages, default=str, ensure_ascii=False)
