"""The benchmarks run end to end on tiny ledgers, so they cannot rot.

Their figures mean nothing at these sizes; the bars are judged by running them at full size
(``python -m bench.replay``, ``python -m bench.asof``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed

from bench import asof, replay


def test_replay_benchmark_prints_its_figures_and_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert replay.main(["--n", "300", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for line in (
        "compute-ledger replay: 300 facts, best of 1 rounds",
        "CPU:",
        "(baseline) raw SELECT + msgspec decode",
        "(a) reference rebuild: replayed(head)",
        "(b) maintained projection: reset + catch_up",
        "(a) reference rebuild / baseline:",
        "(b) maintained rebuild / baseline:",
    ):
        assert line in out, line


def test_asof_benchmark_prints_its_figures_ratios_and_memory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert asof.main(["--small", "100", "--large", "400", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for line in (
        "compute-ledger verdict --as-of 2026-05-23 --json: 100 vs 400 facts",
        "CPU:",
        "(i) in-process: open + verdict + JSON",
        "(ii) the command, own process: wall",
        "(i)  in-process 400 / 100:",
        "(ii) command    400 / 100:",
        "peak memory of the command on 400 facts:",
        "a full replay per question costs",
    ):
        assert line in out, line


@pytest.mark.parametrize("main, argv", [
    (replay.main, ["--n", "0"]),
    (asof.main, ["--rounds", "0"]),
])
def test_benchmarks_refuse_sizes_that_are_not_positive(
    main: Callable[[list[str] | None], int], argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "must be positive" in capsys.readouterr().err
