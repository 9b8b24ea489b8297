"""Type-check the working tree under ``mypy --strict``: the four rooms as the one package they
install as, ``compute_ledger``, plus ``bench/`` and ``tests/``.

The rooms sit at the repository's root and become ``compute_ledger.ledger`` and so on only
when installed (setuptools ``package-dir``).  mypy cannot follow an editable install's import
hook, so this builds the package as mypy should see it, a folder of links to the rooms, and
points mypy at it.  Run it from anywhere:

    python tests/typecheck.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("ledger", "contracts", "projections", "cli")
VIEW = ROOT / "build" / "typecheck"


def package_view() -> Path:
    """``build/typecheck/compute_ledger/<room>`` -> ``<room>/``, made once and kept."""
    package = VIEW / "compute_ledger"
    package.mkdir(parents=True, exist_ok=True)
    for room in ROOMS:
        link = package / room
        if not link.is_symlink():
            link.symlink_to(ROOT / room, target_is_directory=True)
    return VIEW


def run(extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    view = package_view()
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(view), str(ROOT / "tests")])}
    files = [str(view / "compute_ledger" / room) for room in ROOMS]
    files += [str(ROOT / folder) for folder in ("bench", "tests")]
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--explicit-package-bases",
         "--cache-dir", str(VIEW / ".mypy_cache"), *files, *(extra or [])],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )


def main() -> int:
    done = run(sys.argv[1:])
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
