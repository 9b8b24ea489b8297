"""The command line, run in process for tests (the one helper every CLI test file uses)."""

from __future__ import annotations

from click.testing import CliRunner, Result

from compute_ledger.cli.main import main


def run(*args: str, input: str | bytes | None = None) -> Result:
    """``compute-ledger ARGS...`` with ``input`` on stdin; exceptions propagate."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False,
                              prog_name="compute-ledger")
