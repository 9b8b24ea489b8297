"""The shape of the code (STYLE.md): four rooms, imports one way, gates that hold.

    cli -> projections -> contracts -> ledger.facts (and ledger.instants, ledger.errors)
                projections -> ledger.store

contracts/ never imports click, sqlite3, sqlite_utils, psycopg or eventsourcing, and never
reads the clock; ledger/ imports none of the other rooms.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.parametrize("room", ROOMS)
def test_imports_go_one_way(room: str) -> None:
    for path in modules(room):
        for name in imports(path):
            top = name.split(".")[0]
            if top not in ROOMS:
                continue
            assert any(name == allowed or name.startswith(allowed + ".")
                       for allowed in ALLOWED[room]), f"{path.relative_to(ROOT)} imports {name}"


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
            "import cli.main, projections.api, projections.runner, ledger.store\n"
            "assert not opened, opened\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
