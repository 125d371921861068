"""Figures of a run, the printed table and `bench/RESULTS.md`."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass
class Figure:
    """One measured figure beside its baseline from the same run."""

    item: str
    name: str
    value: float | None
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline, or None when either is missing."""
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


@dataclass
class Run:
    """Everything a run reports: figures, notes per item, timings."""

    quick: bool
    figures: list[Figure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    load_before: tuple[float, ...] = field(default_factory=os.getloadavg)
    durations: dict[str, float] = field(default_factory=dict)

    def note(self, item: str, text: str) -> None:
        self.notes.setdefault(item, []).append(text)


def fmt(value: float | None, unit: str = "") -> str:
    """A figure with its unit, rounded for reading."""
    if value is None:
        return "n/a"
    if unit in ("req/s", "keys", "B", "widgets") or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if value else "0"
    return f"{text} {unit}".strip()


def _verdict(f: Figure) -> str:
    if not f.target:
        return ""
    if f.met is None:
        return "not measured"
    return "met" if f.met else "MISSED"


def rows(run: Run) -> list[list[str]]:
    """The table: item, figure, value, baseline, ratio, target, verdict."""
    out = []
    for f in run.figures:
        base = f"{fmt(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline_name else ""
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        value = fmt(f.value, f.unit) if f.value is not None else f"not available: {f.note}"
        out.append([f.item, f.name, value, base, ratio, f.target, _verdict(f)])
    return out


HEADER = ["#", "figure", "value", "baseline (same run)", "ratio", "target", "verdict"]


def print_table(run: Run) -> None:
    """Print the figures as a fixed-width table."""
    table = [HEADER, *rows(run)]
    widths = [min(60, max(len(r[i]) for r in table)) for i in range(len(HEADER))]
    for r in table:
        print("  ".join(c[:60].ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def machine() -> dict[str, str]:
    """Cores, CPU model, memory, OS and versions of the parts measured."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        chromium = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=20
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "not installed"
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "OS": platform.platform(),
        "Python": sys.version.split()[0],
        "packages": ", ".join(
            f"{m} {_version(m)}"
            for m in (
                "tornado",
                "jupyter_server",
                "jupyterlab",
                "jupyter-server-proxy",
                "qiskit",
                "qiskit-aer",
                "qbraid",
            )
        ),
        "browser": chromium or "unknown",
    }


@dataclass
class Kept:
    """What an earlier RESULTS.md says about the items a run did not measure again."""

    rows: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)  # its CPU, date and load


def kept_results(measured: set[str], path: Path = RESULTS) -> Kept:
    """The rows, targets and notes of `path` for items not in `measured` (by their # label)."""
    kept = Kept()
    if not path.exists():
        return kept
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:]
            continue
        if section.startswith("Machine") and line.startswith(("- CPU:", "- date:", "- load")):
            kept.run.append(line[2:].split(" (the machine")[0])
        elif section == "Figures" and line.startswith("| ") and not line.startswith("| # |"):
            item = line.split("|")[1].strip()
            if item not in measured:
                kept.rows.append(line)
                if item not in kept.items:
                    kept.items.append(item)
        elif section == "Targets" and line.startswith("- **"):
            about = line.split(" — ", 1)[-1]
            if any(about.startswith(f"{item} ") for item in kept.items):
                kept.targets.append(line)
        elif (
            section.startswith("Notes")
            and line.startswith("- ")
            and line[2:].split(":", 1)[0] in kept.items
        ):
            kept.notes.append(line)
    return kept


def write_results(run: Run, method: str, keep_others: bool = False) -> Path:
    """Write bench/RESULTS.md for this run; its path.

    With `keep_others`, the items this run did not measure keep their rows, targets and notes
    from the RESULTS.md already there (and say from which run they come).
    """
    measured = {f.item for f in run.figures} | set(run.notes)
    kept = kept_results(measured) if keep_others else Kept()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.started))
    total = sum(run.durations.values())
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench" + (" --quick" if run.quick else "") + "`; do not edit by "
        "hand. Every figure is beside its baseline measured in the same run on the same "
        "machine, and the ratio is value / baseline.",
        "",
        "## Machine and run",
        "",
    ]
    for name, value in machine().items():
        lines.append(f"- {name}: {value}")
    load_after = os.getloadavg()
    lines += [
        f"- date: {when}",
        f"- mode: {'quick' if run.quick else 'full'}, {total:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in run.durations.items())})",
        "- load average (1, 5, 15 min) at start: "
        + ", ".join(f"{x:.2f}" for x in run.load_before)
        + "; at end: "
        + ", ".join(f"{x:.2f}" for x in load_after)
        + " (the machine is shared: absolute figures are noisy, ratios much less so)",
    ]
    if kept.items:
        lines.append(
            f"- measured in this run: {', '.join(sorted(measured))}; kept from the earlier "
            f"run ({'; '.join(kept.run)}): {', '.join(kept.items)}"
        )
    lines += [
        "",
        "## Figures",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
        *kept.rows,
    ]
    for r in rows(run):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    lines += ["", "## Targets", "", *kept.targets]
    for f in run.figures:
        if f.target:
            ratio = "n/a" if f.ratio is None else f"{f.ratio:.2f}"
            lines.append(
                f"- **{_verdict(f)}** — {f.item} {f.name}: ratio {ratio}, target {f.target}."
            )
    lines += ["", "## Notes: limits and why", "", *kept.notes]
    for item, texts in run.notes.items():
        for text in texts:
            lines.append(f"- {item}: {text}")
    lines += ["", "## Method", "", method.strip(), ""]
    RESULTS.write_text("\n".join(lines))
    return RESULTS
