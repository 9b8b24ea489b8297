"""The shape of the code (STYLE.md): four rooms, imports one way, gates that hold.

    cli -> projections -> contracts -> ledger.facts (and ledger.instants, ledger.errors)
                projections -> ledger.store

The rooms install as one package, ``compute_ledger`` (``compute_ledger.ledger`` ...), and
everything, tests and benchmarks included, imports them by that name.  contracts/ never
imports click, sqlite3, sqlite_utils, psycopg or eventsourcing, and never reads the clock;
ledger/ imports none of the other rooms.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typecheck

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "compute_ledger"
ROOMS = ("ledger", "contracts", "projections", "cli")
IO_MODULES = {"click", "sqlite3", "sqlite_utils", "psycopg", "psycopg_pool", "eventsourcing"}

ALLOWED = {
    "ledger": {"ledger"},
    "contracts": {"ledger.facts", "ledger.instants", "ledger.errors", "contracts"},
    "projections": {"ledger", "contracts", "projections"},
    "cli": {"ledger.facts", "ledger.instants", "ledger.errors", "projections", "cli"},
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


def room_of(name: str) -> str | None:
    """``compute_ledger.ledger.facts`` -> ``ledger.facts``; None for anything else."""
    if not name.startswith(PACKAGE + "."):
        return None
    return name.removeprefix(PACKAGE + ".")


@pytest.mark.parametrize("room", ROOMS)
def test_imports_go_one_way(room: str) -> None:
    for path in modules(room):
        for name in imports(path):
            inner = room_of(name)
            if inner is None:
                continue
            assert any(inner == allowed or inner.startswith(allowed + ".")
                       for allowed in ALLOWED[room]), f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("folder", [*ROOMS, "tests", "bench"])
def test_rooms_are_imported_by_their_installed_name(folder: str) -> None:
    # A bare `import ledger` would find another distribution's `ledger`, or none.
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in imports(path):
            assert name.split(".")[0] not in ROOMS, (
                f"{path.relative_to(ROOT)} imports {name}: write {PACKAGE}.{name}")


def test_contracts_are_pure() -> None:
    for path in modules("contracts"):
        names = imports(path)
        assert not {n.split(".")[0] for n in names} & IO_MODULES, path
        source = path.read_text()
        for forbidden in ("datetime.now(", ".now()", "time.time(", "uuid4(", "open("):
            assert forbidden not in source, f"{path.relative_to(ROOT)} uses {forbidden}"


def test_folds_read_no_clock() -> None:
    for name in ("subjects", "knowledge", "view", "verdict", "business", "timeline"):
        source = (ROOT / "projections" / f"{name}.py").read_text()
        for forbidden in ("datetime.now(", ".now()", "time.time(", "uuid4("):
            assert forbidden not in source, f"projections/{name}.py uses {forbidden}"


def test_nothing_is_opened_at_import_time() -> None:
    code = ("import sys, sqlite3\n"
            "opened = []\n"
            "real = sqlite3.connect\n"
            "sqlite3.connect = lambda *a, **k: opened.append(a) or real(*a, **k)\n"
            "import compute_ledger.cli.main, compute_ledger.projections.api\n"
            "import compute_ledger.projections.runner, compute_ledger.ledger.store\n"
            "assert not opened, opened\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    # The rooms as compute_ledger.*, bench/ and tests/ (see tests/typecheck.py).
    result = typecheck.run()
    assert result.returncode == 0, result.stdout + result.stderr


def main_run(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "compute_ledger.cli.main", *args],
                          capture_output=True, check=False).returncode


def test_a_sqlite_question_imports_only_what_it_needs(tmp_path: Path) -> None:
    # psycopg for a SQLite ledger, or sqlite_utils for anything but export, is start-up
    # time paid for nothing (bench/startup.py measures it).
    assert main_run("append", "--public-record", "--db", str(tmp_path / "l.sqlite3")) == 0
    code = (
        "import sys\n"
        "from compute_ledger.cli.main import main\n"
        "try:\n"
        f"    main(['verdict', '--as-of', '2026-05-23', '--db', {str(tmp_path / 'l.sqlite3')!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "loaded = sorted(m for m in sys.modules\n"
        "                if m.split('.')[0] in ('psycopg', 'psycopg_pool', 'sqlite_utils',\n"
        "                                      'datasette', 'platformdirs')\n"
        "                or m in ('eventsourcing.postgres', 'compute_ledger.ledger.postgres'))\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
