"""What every benchmark shares: the machine it ran on, and a command run in a process of its
own with its wall time and peak resident set."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f", {usable} usable" if usable else "")
    return [
        f"CPU:     {cpu} ({cores})",
        f"OS:      {platform.platform()}",
        f"Python:  {platform.python_version()} ({platform.python_implementation()})",
        f"SQLite:  {sqlite3.sqlite_version} (sqlite3 module)",
        f"libs:    eventsourcing {version('eventsourcing')}, msgspec {version('msgspec')}",
    ]


@dataclass(frozen=True)
class Run:
    """One process: its wall time, its peak resident set, what it printed."""

    seconds: float
    peak_rss: int
    stdout: str


LAUNCHER = """\
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    report.write(f"{seconds!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Runs a command and reports its wall time, peak RSS and exit code.  A child's ``ru_maxrss``
starts from its parent's resident set when it forks, so the command is started by this small
process rather than by the benchmark (which holds a 100,000-fact ledger in memory)."""


def run_process(command: list[str]) -> Run:
    """Run ``command`` in a process of its own: its wall time and peak RSS, what it printed."""
    env = {k: v for k, v in os.environ.items() if k != "COMPUTE_LEDGER_DB"}
    with tempfile.TemporaryDirectory(prefix="compute-ledger-bench-run-") as tmp:
        report, out, err = (Path(tmp) / name for name in ("report", "stdout", "stderr"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *command],
                           stdout=stdout, stderr=stderr, env=env, check=True)
        seconds, rss, code = report.read_text().split()
        if int(code) != 0:
            raise RuntimeError(f"{command} exited {code}: {err.read_text()}")
        # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
        peak = int(rss) if sys.platform == "darwin" else int(rss) * 1024
        return Run(float(seconds), peak, out.read_text())
