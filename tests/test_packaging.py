"""What ``pip install .`` puts into site-packages: one import package, ``compute_ledger``,
typed (``py.typed``), so the documented API type-checks for its users under mypy --strict."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONSUMER = ROOT / "docs" / "examples" / "api_example.py"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project's wheel, built from the working tree and unpacked as site-packages."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = out.glob("compute_ledger-*.whl")
    site = out / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    yield site


def test_one_top_level_import_package(installed: Path) -> None:
    top = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"compute_ledger"}
    rooms = {p.name for p in (installed / "compute_ledger").iterdir()}
    assert rooms == {"ledger", "contracts", "projections", "cli"}
    for room in rooms:
        assert (installed / "compute_ledger" / room / "py.typed").exists(), room
    assert (installed / "compute_ledger" / "ledger" / "data" / "public-record.jsonl").exists()


def test_the_documented_api_type_checks_for_a_user(installed: Path, tmp_path: Path) -> None:
    # The consumer is checked against the installed copy alone (not the working tree).
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / "cache"), str(CONSUMER)],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(installed)},
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
