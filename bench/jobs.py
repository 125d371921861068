"""Item 7: quantum jobs on the key service, and what verification keeps while they run.

The key service runs in its own process with its default simulator workers (one per core,
at most 2); the load generator, in another process, submits a Bell circuit (OpenQASM 2, 2
qubits, 100 shots) on keep-alive connections. `POST /jobs` answers once the job has ended
(or after 5 s), so its rate is the rate of completed jobs; every job is checked COMPLETED
afterwards. The baseline is the simulator alone: the same program parsed and run by the
same code the workers run (`simulator._Aer`), in a loop in one process, no HTTP, no database.

Verification: the same verify load as item 1 (16 connections, 100 keys) on the same service,
alone and while the job load runs, interleaved in rounds. Server CPU per verify is that of
the service process alone (the workers are other processes), so it shows whether jobs slow
the event loop itself or only take the cores.

    python -m bench.jobs baseline --seconds S    # the simulator alone, prints JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from . import accounts
from .processes import Server, finish_load, load, python_env, start_load
from .report import Figure, Run

ITEM = "7 jobs"
TOKEN = "bench-jobs-account-token"
AER = "qbraid:qiskit:sim:aer-simulator"
BELL = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\n'
    "measure q -> c;\n"
)
SHOTS = 100
JOB_CONNECTIONS = 8
VERIFY_CONNECTIONS = 16
ALL_SCOPES = ["devices:read", "jobs:read", "jobs:write", "credits:read"]


def _call(url: str, method: str, headers: dict[str, str], body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def baseline(seconds: float) -> dict:
    """Bell jobs per second through the workers' own parse-and-run code, in this process."""
    from qbraid_keys_ext.service.simulator import _Aer

    aer = _Aer()
    request = {"format": "qasm2", "data": BELL, "shots": SHOTS, "maxQubits": 20}
    for _ in range(20):
        aer.run(request)  # warm up
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        aer.run(request)
        runs += 1
    elapsed = time.perf_counter() - started
    return {"runs": runs, "seconds": elapsed, "rate": runs / elapsed}


def _baseline_in_process(seconds: float) -> dict:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "bench.jobs", "baseline", "--seconds", str(seconds)],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, tmp: Path, report: Run) -> None:
    """Measure and add the figures of item 7."""
    rounds, seconds = (2, 2.0) if quick else (3, 4.0)
    keys = accounts.fill(tmp / "jobs.sqlite3", 100)
    values = accounts.values_file(tmp / "verify.values", keys)
    del keys
    body = tmp / "bell.json"
    body.write_text(
        json.dumps({"deviceQrn": AER, "shots": SHOTS, "program": {"format": "qasm2", "data": BELL}})
    )
    env = python_env({"QBRAID_KEYS_ACCESS_TOKEN": TOKEN})
    args = [sys.executable, "-m", "bench.serve", "service", "--db", str(tmp / "jobs.sqlite3")]
    server = Server([*args, "--credits", "1000000"], env).start()
    assert server.proc is not None
    api = f"{server.url}/api/v1"
    key = _call(
        f"{api}/api-keys",
        "POST",
        {"X-Access-Token": TOKEN, "Content-Type": "application/json"},
        {"name": "bench-jobs", "scopes": ALL_SCOPES},
    )["data"]
    submit_header = ["--header", f"X-API-Key: {key.pop('value')}"]
    submit_args = [
        *submit_header,
        "--header",
        "Content-Type: application/json",
        "--method",
        "POST",
        "--body",
        str(body),
        "--connections",
        str(JOB_CONNECTIONS),
        "--warmup",
        "1.0",
        "--pid",
        str(server.proc.pid),
    ]
    verify_args = [
        "--connections",
        str(VERIFY_CONNECTIONS),
        "--warmup",
        "0.5",
        "--cycle-header",
        "X-API-Key",
        "--values",
        str(values),
        "--pid",
        str(server.proc.pid),
    ]
    verify_url = f"{api}/users/verify"
    results: dict[str, list[dict]] = {"verify": [], "jobs": [], "verify+jobs": [], "jobs+": []}
    try:
        load(f"{api}/jobs", *submit_args, "--requests", "20")  # starts the simulator workers
        one_at_a_time = ["--connections", "1", "--requests", "30" if quick else "100"]
        single = load(f"{api}/jobs", *submit_args, *one_at_a_time)
        for _ in range(rounds):
            results["verify"].append(load(verify_url, *verify_args, "--duration", str(seconds)))
            results["jobs"].append(load(f"{api}/jobs", *submit_args, "--duration", str(seconds)))
            background = start_load(f"{api}/jobs", *submit_args, "--duration", str(seconds + 1.5))
            time.sleep(1.0)  # its warm-up: jobs are running when verification starts
            results["verify+jobs"].append(
                load(verify_url, *verify_args, "--duration", str(seconds))
            )
            results["jobs+"].append(finish_load(background))
        for name, figures in results.items():
            for f in figures:
                if f["errors"]:
                    raise RuntimeError(f"{name}: {f['statuses']}")
        counted = _call(f"{api}/jobs?limit=1&status=COMPLETED", "GET", {"X-Access-Token": TOKEN})
        failed = _call(f"{api}/jobs?limit=1&statusGroup=returned", "GET", {"X-Access-Token": TOKEN})
    finally:
        server.stop()
    ceiling = _baseline_in_process(seconds)

    jobs_rate = _median(results["jobs"], "rps")
    verify_alone = _median(results["verify"], "rps")
    verify_busy = _median(results["verify+jobs"], "rps")
    add = report.figures.append
    add(
        Figure(
            ITEM,
            f"job throughput, Bell circuit {SHOTS} shots ({JOB_CONNECTIONS} conns)",
            jobs_rate,
            "jobs/s",
            "the simulator alone, one process",
            ceiling["rate"],
        )
    )
    add(
        Figure(
            ITEM,
            "one job at a time: submit to COMPLETED answer, p50",
            single["p50_ms"],
            "ms",
            "one run of the simulator alone",
            1000 / ceiling["rate"],
        )
    )
    add(
        Figure(
            ITEM,
            "service CPU per job (simulation is in the workers)",
            _median(results["jobs"], "cpu_us_per_request"),
            "us",
            "service CPU per verify",
            _median(results["verify"], "cpu_us_per_request"),
        )
    )
    add(
        Figure(
            ITEM,
            "verify throughput while jobs run",
            verify_busy,
            "req/s",
            "same service, no jobs",
            verify_alone,
        )
    )
    add(
        Figure(
            ITEM,
            "verify p99 while jobs run",
            _median(results["verify+jobs"], "p99_ms"),
            "ms",
            "same service, no jobs",
            _median(results["verify"], "p99_ms"),
        )
    )
    add(
        Figure(
            ITEM,
            "job throughput while verify load runs",
            _median(results["jobs+"], "rps"),
            "jobs/s",
            "jobs alone",
            jobs_rate,
        )
    )
    submitted = sum(r["requests"] for r in results["jobs"] + results["jobs+"])
    report.note(
        ITEM,
        f"{rounds} interleaved rounds of {seconds:g} s; jobs answered in the measured windows: "
        f"{submitted:,} (plus warm-ups); after the run the service held "
        f"{counted['pagination']['total']:,} COMPLETED jobs out of "
        f"{failed['pagination']['total']:,} ended (every answered job ran). Job rate range "
        f"over rounds: {min(r['rps'] for r in results['jobs']):.0f}-"
        f"{max(r['rps'] for r in results['jobs']):.0f} jobs/s; verify alone "
        f"{min(r['rps'] for r in results['verify']):,.0f}-"
        f"{max(r['rps'] for r in results['verify']):,.0f} req/s, with jobs "
        f"{min(r['rps'] for r in results['verify+jobs']):,.0f}-"
        f"{max(r['rps'] for r in results['verify+jobs']):,.0f} req/s.",
    )
    report.note(
        ITEM,
        "WHY verification slows while jobs run: on this 2-core machine the simulator workers "
        "(one per core), the service and both load generators share 2 cores, and the "
        "service's own work per job (HTTP, JSON, three SQLite writes, the pipe to a worker, "
        "the status read) runs in the same event loop as verify: at the job rate above that "
        "is most of one core. Simulation itself never runs in the event loop. With 8 "
        "connections and 2 workers a job waits for ~3 others, so the one-at-a-time latency, "
        "not the loaded one, is the service's overhead on a job.",
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.jobs baseline --seconds S`: the simulator alone, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.jobs")
    parser.add_argument("what", choices=["baseline"])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    print(json.dumps(baseline(args.seconds)))


if __name__ == "__main__":
    main()
