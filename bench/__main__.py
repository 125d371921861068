"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print the table and
write bench/RESULTS.md. Not part of the test suite."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import processes
from .report import Figure, Run, print_table, write_results

# run order: cheap and most important first
MODULES = [
    "verify",
    "proxy",
    "rotation",
    "kernel",
    "startup",
    "scale",
    "sidebar",
    "jobs",
    "postgres",
    "live",
]

METHOD = """
- Every server and client runs in its own process on 127.0.0.1; the load generator
  (`bench/load.py`, asyncio, HTTP/1.1 keep-alive, one process) never shares a process with
  the server it loads. Each figure and its baseline are measured in the same run,
  interleaved in rounds where the figure is a rate or a latency, and medians are reported.
- The machine has 2 cores and is shared with other jobs, so requests/s move by tens of
  percent from one round to the next; server CPU time per request (`/proc/PID/stat`) is
  reported beside throughput because it is far less disturbed by other load.
- Item 1: the ceiling is a bare tornado handler (`bench/serve.py`) that answers verify's exact
  JSON (pre-encoded) with the same headers and no lookup. The service is the real key
  service in its own process (`KeyService`, as `python -m qbraid_keys_ext.service` runs it).
- Item 2: the same service with `flush_interval=0` (usage written to SQLite on every
  verify, WAL, synchronous=NORMAL) against the default batching (every 2 s).
- Item 3: one standalone key service, reached directly, through our proxy
  (`c.QbraidKeys.upstream_url`) and through jupyter-server-proxy (`/proxy/127.0.0.1:PORT/`)
  in the same `jupyter server`; added latency is p50 minus the direct p50 of the same round.
- Item 4: a `jupyter server` with the embedded service, first with 10 keys, then with
  10,000 (written into its database from outside while it runs): a page, a name, details,
  create and the whole list, each through Jupyter. The sidebar is measured in headless Debian
  Chromium driven by Playwright, on two `jupyter lab` servers (10 and 10,000 keys) in
  alternation; the panel built from given keys by `bench/panel.py`.
- Item 5: `%qbraid_key use` and `KeysPanel()` timed inside real IPython kernels of two
  servers (10 and 10,000 keys), in alternating rounds; start-up is launch to the first
  `/api/status` 200, alternating runs with and without the extension.
- Item 6: rotations and revocations under concurrent verify load; after each answer the old
  value is verified at once on an already open connection.
- Item 7: Bell-circuit jobs (2 qubits, 100 shots) submitted on 8 keep-alive connections to
  the key service with its default simulator workers (`POST /jobs` answers once the job has
  ended, so its rate is completed jobs/s), against the same parse-and-run code in a loop in
  one process; then item 1's verify load alone and while the job load runs, interleaved.
- Item 8: a real PostgreSQL on loopback (fsync off); verify throughput of one and of two
  service processes on it (two load generators, connections split, rates added) against one
  process on SQLite, interleaved; rotations through one process, the old value verified
  through the other the moment the answer arrives.
- Item 9: one `jupyter lab` (embedded service, 5 keys) and one headless Chromium page with the
  sidebar open; renames, status changes and rotations of one key made over the Jupyter REST
  route from the bench process, in turn. A MutationObserver armed in the page before each
  change stamps the first DOM mutation that shows it; the figure runs from the moment the
  bench process read the change's answer (page and process clocks matched once per phase).
  Then the same with a notebook showing `KeysPanel()` in that Lab, its kernel idle.
"""


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; 0 if they all ran, 1 if one failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under 2 minutes)")
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--keep-others",
        action="store_true",
        help="with --only: keep the other items' figures from the RESULTS.md already there",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(quick=args.quick)
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="qbraid-keys-bench-") as tmp:
            for name in args.only or MODULES:
                print(f"== {name}", flush=True)
                started = time.perf_counter()
                try:
                    module = importlib.import_module(f"bench.{name}")
                    folder = Path(tmp) / name
                    folder.mkdir()
                    module.run(args.quick, folder, run)
                except Exception as err:
                    failed = True
                    traceback.print_exc()
                    run.figures.append(
                        Figure(name, "benchmark failed", None, "", note=str(err)[:300])
                    )
                    run.note(name, f"failed: {type(err).__name__}: {str(err)[:500]}")
                finally:
                    processes.stop_all()
                    run.durations[name] = time.perf_counter() - started
    finally:
        processes.stop_all()
    print()
    print_table(run)
    if not args.no_write:
        path = write_results(run, METHOD, keep_others=args.keep_others)
        print(f"\nwrote {path}")
    print(f"total {sum(run.durations.values()):.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
