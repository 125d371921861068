"""Simulator worker processes: a program in, measurement counts out, within a time limit.

Each ``Worker`` is one child process (``python -m qbraid_keys_ext.service.simulator``) that
imports qiskit and qiskit-aer once and then runs one program at a time, read as a JSON line
on its stdin, answered as a JSON line on its stdout. The parent's calls block (they run in
the job runner's threads, never in the event loop). A job that runs past its limit, or is
cancelled while it runs, is stopped by killing its worker; the next job starts a new one.

In the worker, OpenQASM 2 is read with ``qiskit.qasm2`` (legacy custom instructions, as
qBraid's qelib1 programs use them) and OpenQASM 3 with ``qiskit.qasm3`` (the
qiskit-qasm3-import package); the circuit runs on ``AerSimulator`` (one thread per worker).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

PARENT_VAR = "QBRAID_KEYS_SIMULATOR_PARENT"
START_TIMEOUT = 120.0  # importing qiskit on a busy machine
MESSAGE_MAX = 600
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class SimulationFailed(Exception):
    """The program could not be run; the message is a sentence for the job's status."""


class WorkerStopped(SimulationFailed):
    """The worker process ended while running the program (killed or crashed)."""


class RunTimeout(SimulationFailed):
    """The program ran past its time limit and its worker was stopped."""


class Worker:
    """One simulator process; ``run`` blocks until the answer, the limit or a ``stop``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # guards _proc
        self._starting = threading.Lock()  # one start at a time, until the process is ready
        self._closed = False

    def run(
        self, request: dict[str, Any], timeout: float, cancelled: threading.Event
    ) -> dict[str, Any]:
        """Run one program; return ``{"counts", "qubits", "seconds"}`` or raise.

        To cancel: set ``cancelled``, then call ``stop`` (a stop that comes before the process
        exists cannot kill it, so ``run`` checks the event once the process is there).
        """
        proc = self._started()
        assert proc.stdin is not None and proc.stdout is not None
        if cancelled.is_set():
            raise WorkerStopped("The job was cancelled before it started.")
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError:
            raise self._stopped(proc) from None
        line = _read_line(proc.stdout, timeout)
        if line is None:
            self.stop()
            raise RunTimeout(
                f"The program ran longer than the device's limit of {timeout:g} s and was stopped."
            )
        if not line:
            raise self._stopped(proc)
        answer = json.loads(line)
        if not answer.get("ok"):
            raise SimulationFailed(str(answer.get("message") or "The simulator failed."))
        return answer

    def close(self) -> None:
        """Stop the process for good: a start still under way kills what it starts."""
        with self._lock:
            self._closed = True
        self.stop()

    def stop(self) -> None:
        """Kill the process (a running program ends with ``WorkerStopped``)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def warm(self) -> None:
        """Start the process now if it is not running (blocks until it is ready)."""
        self._started()

    def _started(self) -> subprocess.Popen[str]:
        with self._starting:
            with self._lock:
                proc = self._proc
            if proc is not None and proc.poll() is None:
                return proc
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")])
            )
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = "1"
            env[PARENT_VAR] = str(os.getpid())
            proc = subprocess.Popen(
                [sys.executable, "-m", "qbraid_keys_ext.service.simulator"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
                start_new_session=True,  # a Ctrl-C in a terminal goes to the server only
            )
            with self._lock:
                self._proc = proc
                closed = self._closed
            if closed:
                self.stop()
                raise WorkerStopped("The key service is stopping.")
            assert proc.stdout is not None
            ready = _read_line(proc.stdout, START_TIMEOUT)
            if not ready or not json.loads(ready).get("ready"):
                message = (json.loads(ready).get("message") if ready else None) or (
                    "The simulator process did not start."
                )
                self.stop()
                raise SimulationFailed(message)
            return proc

    def _stopped(self, proc: subprocess.Popen[str]) -> WorkerStopped:
        code = proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
        return WorkerStopped(f"The simulator process stopped (exit code {code}).")


def _read_line(stream: TextIO, timeout: float) -> str | None:
    """The next line of ``stream`` ('' at its end), or None after ``timeout`` seconds."""
    ready, _, _ = select.select([stream], [], [], max(0.0, timeout))
    if not ready:
        return None
    return stream.readline()


# -- inside the worker process ---------------------------------------------------------------


def _load(program_format: str, data: str) -> Any:
    """A qiskit circuit from OpenQASM 2 or 3 text, or SimulationFailed with the parser's reason."""
    import qiskit.qasm2
    import qiskit.qasm3

    said = io.StringIO()  # the OpenQASM 3 parser prints its syntax errors to stderr
    try:
        with contextlib.redirect_stderr(said):
            if program_format == "qasm2":
                return qiskit.qasm2.loads(  # no include path: no file of this machine is read
                    data,
                    include_path=(),
                    custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
                )
            return qiskit.qasm3.loads(data)
    except Exception as err:
        reason = " ".join((str(err) or said.getvalue()).split()) or type(err).__name__
        name = "OpenQASM 2" if program_format == "qasm2" else "OpenQASM 3"
        raise SimulationFailed(f"The {name} program does not parse: {reason}") from None


class _Aer:
    """AerSimulator, one thread, and the instructions it runs without transpiling."""

    def __init__(self) -> None:
        from qiskit_aer import AerSimulator

        self.backend = AerSimulator(max_parallel_threads=1)
        self.native = set(self.backend.target.operation_names) | {"barrier"}

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        circuit = _load(request["format"], request["data"])
        qubits = circuit.num_qubits
        if qubits > request["maxQubits"]:
            raise SimulationFailed(
                f"The program uses {qubits} qubits; this device runs at most "
                f"{request['maxQubits']}."
            )
        if qubits == 0:
            raise SimulationFailed("The program declares no qubits.")
        if not any(inst.operation.name == "measure" for inst in circuit.data):
            circuit.measure_all()
        ops = set(circuit.count_ops())
        if not ops <= self.native or any(
            getattr(inst.operation, "blocks", ()) for inst in circuit.data
        ):
            import qiskit

            circuit = qiskit.transpile(circuit, self.backend, optimization_level=0)
        options: dict[str, Any] = {"shots": request["shots"]}
        if request.get("seed") is not None:
            options["seed_simulator"] = request["seed"]
        result = self.backend.run(circuit, **options).result()
        if not result.success:
            raise SimulationFailed(f"The simulator failed: {result.status}")
        counts = {k.replace(" ", ""): int(v) for k, v in result.get_counts().items()}
        return {"counts": counts, "qubits": qubits, "seconds": time.perf_counter() - started}


WARM_UP = {
    "qasm2": {"format": "qasm2", "data": 'OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; h q[0];'},
    "qasm3": {"format": "qasm3", "data": 'OPENQASM 3.0; include "stdgates.inc"; qubit q; h q;'},
}


def _serve(channel: TextIO) -> None:
    def send(answer: dict[str, Any]) -> None:
        channel.write(json.dumps(answer) + "\n")
        channel.flush()

    try:
        aer = _Aer()
        for program_format in ("qasm2", "qasm3"):  # warm up now, not in the first job's time
            aer.run({**WARM_UP[program_format], "shots": 1, "maxQubits": 1})
    except Exception as err:
        send({"ready": False, "message": f"The simulator cannot start: {err}"[:MESSAGE_MAX]})
        return
    send({"ready": True})
    for line in sys.stdin:
        try:
            send({"ok": True, **aer.run(json.loads(line))})
        except SimulationFailed as err:
            send({"ok": False, "message": str(err)[:MESSAGE_MAX]})
        except Exception as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            send({"ok": False, "message": f"The simulator failed: {reason}"[:MESSAGE_MAX]})


def _exit_with_parent() -> None:
    """End this process when the key service dies (even by SIGKILL), mid-job or not.

    On Linux the kernel kills it (``PR_SET_PDEATHSIG``), even while a simulation holds the
    GIL; elsewhere a thread checks every second (between the simulator's GIL releases).
    """
    parent = int(os.environ.get(PARENT_VAR) or os.getppid())
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    """Serve programs on stdin/stdout; whatever a library prints goes to stderr instead."""
    _exit_with_parent()
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(channel)


if __name__ == "__main__":
    main()
