"""The docs run: every ``console`` block in README.md and docs/*.md is executed and its output
compared with what the page shows, so examples cannot rot.

In a block, a line starting with ``$ `` is a command (run with bash in a fresh directory per
page, with ``docs/examples`` copied in as ``examples/`` and a fresh default ledger); the lines
after it are its expected output (stdout and stderr together).  ``...`` in the expected
output stands for any text, as in doctest.  A command whose expected output shows an
``Error:`` line must fail; any other must succeed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compute_ledger.projections.api import ComputeLedger, bundled_record

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


def examples(page: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for block in BLOCK.findall(page.read_text()):
        command: str | None = None
        expected: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, "\n".join(expected)))
                command, expected = line[2:], []
            else:
                expected.append(line)
        if command is not None:
            found.append((command, "\n".join(expected)))
    return found


def matches(expected: str, actual: str) -> bool:
    def clean(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

    pattern = ".*?".join(re.escape(part) for part in clean(expected).split("..."))
    return re.fullmatch(pattern, clean(actual), re.S) is not None


def test_every_page_has_examples() -> None:
    assert (ROOT / "README.md") in PAGES
    assert examples(ROOT / "README.md"), "the README shows no commands"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_examples_on_the_page_run(page: Path, tmp_path: Path) -> None:
    cases = examples(page)
    if not cases:
        return  # a page without commands (checked by test_every_page_has_examples for README)
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")  # as in a checkout
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "COLUMNS": "120",
    }
    env.pop("COMPUTE_LEDGER_DB", None)
    env.pop("COLUMNS", None)  # the pages show whole lines, as a pipe gets them
    for command, expected in cases:
        if command.startswith(("python3.11 -m venv", "pip install", ".venv/bin/")):
            continue  # the quickstart's install lines are exercised by .ci/run itself
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        output = done.stdout + done.stderr
        assert matches(expected, output), (
            f"{page.name}: `{command}` printed:\n{output}\n--- but the page shows:\n{expected}"
        )
        if "Error:" in expected:
            assert done.returncode != 0, f"{page.name}: `{command}` should have failed"
        else:
            assert done.returncode == 0, f"{page.name}: `{command}` exited {done.returncode}"
    default = tmp_path / "xdg-data" / "compute-ledger" / "ledger.sqlite3"
    if default.exists():  # the examples may read the default ledger, never append to it
        with ComputeLedger.open(str(default), environ={}) as ledger:
            held = [entry.fact.id for entry in ledger.facts()]
        assert held == [json.loads(line)["id"] for line in bundled_record().splitlines()], \
            f"{page.name}: an example appended to the default ledger"
