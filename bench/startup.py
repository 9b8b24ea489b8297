"""The start-up benchmark (PRODUCT.md, "Bars it must clear").

A ``verdict`` on a small ledger (the bundled public record) costs at most 2.5 times a bare
``python -c "import msgspec, click, sqlite3"``, measured side by side in one run: the two
commands alternate, each the best of ``--rounds`` (a shared machine's noise only ever adds
time), and the ratio of the bests is held to the bar.  The ledger is created and its
projection caught up once before timing, so what is timed is a question as a user asks it
the second time: the interpreter starting, importing what ``verdict`` needs (from cached
bytecode, as after any install), opening the ledger, reading the maintained projection and
printing.

It also lists the modules that ``verdict`` imports that it should not (psycopg,
sqlite_utils, datasette): a SQLite question needs none of them.

Usage::

    python -m bench.startup [--rounds 20] [--check]

``--check`` exits 1 when the bar is missed or a forbidden module is imported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine

RATIO_BAR = 2.5
BASELINE = [sys.executable, "-c", "import msgspec, click, sqlite3"]
FORBIDDEN = ("psycopg", "sqlite_utils", "datasette", "eventsourcing.postgres")


def command() -> list[str]:
    """``compute-ledger`` as installed beside this interpreter (else as a module)."""
    script = Path(sys.executable).with_name("compute-ledger")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "compute_ledger.cli.main"]  # pragma: no cover


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def imported(argv: list[str], env: dict[str, str]) -> list[str]:
    """The top-level names of the modules the command imports (``-X importtime``)."""
    done = subprocess.run(argv, env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    names = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds <= 0:
        parser.error("--rounds must be positive")
    tmp = Path(tempfile.mkdtemp(prefix="compute-ledger-bench-startup-"))
    try:
        # As on a user's machine: bytecode is cached (an environment that sets
        # PYTHONDONTWRITEBYTECODE, as some CI and sandboxes do, would otherwise make every
        # run compile every module from source, the baseline's modules too).
        env = {k: v for k, v in os.environ.items()
               if k not in ("COMPUTE_LEDGER_DB", "PYTHONDONTWRITEBYTECODE")}
        env["XDG_DATA_HOME"] = str(tmp)
        verdict = [*command(), "verdict", "--as-of", "2026-05-23"]
        for warm_up in (BASELINE, verdict):  # creates the ledger, caches the bytecode
            subprocess.run(warm_up, env=env, stdout=subprocess.DEVNULL, check=True)
        base: list[float] = []
        ours: list[float] = []
        for _ in range(args.rounds):
            base.append(timed(BASELINE, env))
            ours.append(timed(verdict, env))
        wrong = sorted({name for name in imported(verdict, env)
                        if name.split(".")[0] in FORBIDDEN or name in FORBIDDEN})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = min(ours) / min(base)
    print(f"compute-ledger start-up: verdict on the bundled record, best of {args.rounds} rounds")
    for line in machine():
        print(line)
    print(f"(baseline) python -c 'import msgspec, click, sqlite3': best {min(base) * 1e3:.1f} ms,"
          f" median {statistics.median(base) * 1e3:.1f} ms")
    print(f"compute-ledger verdict --as-of 2026-05-23:           best {min(ours) * 1e3:.1f} ms,"
          f" median {statistics.median(ours) * 1e3:.1f} ms")
    print(f"verdict / baseline: {ratio:.2f} (bar: at most {RATIO_BAR})")
    print(f"modules verdict should not import: {', '.join(wrong) if wrong else 'none'}")
    missed = ratio > RATIO_BAR or bool(wrong)
    if missed:
        print("MISSED" if args.check else "(the bar is missed)")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
