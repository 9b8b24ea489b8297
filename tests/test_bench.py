"""The benchmarks run end to end on tiny ledgers, so they cannot rot.

Their figures mean nothing at these sizes; the bars are judged by running them at full size
(``python -m bench.replay``, ``python -m bench.asof``).  They run as a user runs them: as
modules of ``bench/`` from the repository root (``bench/`` is not installed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_replay_benchmark_prints_its_figures_and_ratios() -> None:
    done = bench("bench.replay", "--n", "300", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    for line in (
        "compute-ledger replay: 300 facts, best of 1 rounds",
        "CPU:",
        "(baseline) raw SELECT + msgspec decode",
        "(a) replay's rebuild, in a scratch file",
        "(b) maintained projection: reset + catch_up",
        "(c) reference fold in memory: replayed(head)",
        "(a) replay's rebuild / baseline:",
        "(b) maintained rebuild / baseline:",
        "(c) reference fold / baseline:",
    ):
        assert line in done.stdout, line


def test_asof_benchmark_prints_its_figures_ratios_and_memory() -> None:
    done = bench("bench.asof", "--small", "100", "--large", "400", "--rounds", "1")
    assert done.returncode == 0, done.stderr
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
        assert line in done.stdout, line


def test_append_benchmark_judges_the_whole_append_against_raw() -> None:
    done = bench("bench.append", "--n", "300", "--rounds", "1", "--per-save", "50")
    assert done.returncode == 0, done.stderr
    for line in (
        "compute-ledger bulk append: 300 facts, best of 1 rounds",
        "CPU:",
        "(a) ledger append, checked facts",
        "(b) raw sqlite3 executemany, same bytes",
        "(d) ledger end to end from JSON Lines",
        "(e) the whole append command",
        "(f) raw executemany, the whole command",
        "(e) whole command / (f) raw, whole command:",
        "typed decoding of the lines, then the raw insert:",
        "the raw insert of every row (e) writes (",
    ):
        assert line in done.stdout, line


@pytest.mark.parametrize("argv", [
    ("bench.append", "--n", "0"),
    ("bench.replay", "--n", "0"),
    ("bench.asof", "--rounds", "0"),
    ("bench.startup", "--rounds", "0"),
])
def test_benchmarks_refuse_sizes_that_are_not_positive(argv: tuple[str, ...]) -> None:
    done = bench(*argv)
    assert done.returncode == 2
    assert "must be positive" in done.stderr


def test_startup_benchmark_prints_its_figures_ratio_and_imports() -> None:
    done = bench("bench.startup", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    for line in (
        "compute-ledger start-up: verdict on the bundled record, best of 1 rounds",
        "(baseline) python -c 'import msgspec, click, sqlite3': best",
        "compute-ledger verdict --as-of 2026-05-23:",
        "verdict / baseline:",
        "modules verdict should not import: none",
    ):
        assert line in done.stdout, line


def test_the_attack_poisons_nothing_and_counts_what_it_tried() -> None:
    """The poisoning attack of issue 10, with fewer random mutations: every accepted input
    stays readable by every command, nothing crashes the door."""
    done = bench("bench.attack", "--random", "60", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = dict(line.rsplit(None, 1) for line in done.stdout.splitlines()
                  if line.split()[0] in ("tried", "refused", "accepted", "poisoned", "crashed"))
    assert int(counts["tried"]) > 500
    assert int(counts["refused"]) > 0 and int(counts["accepted"]) > 0
    assert counts["poisoned"] == counts["crashed"] == "0"


def test_known_at_benchmark_prints_every_command_and_the_refold_it_replaces() -> None:
    done = bench("bench.known_at", "--small", "60", "--large", "240", "--huge", "300",
                 "--batches", "3", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    for line in ("small: 60 facts in 3 batches", "large: 240 facts in 3 batches",
                 "huge: 300 facts in 3 batches", "huge/small", "huge RSS",
                 "append (the last batch)", "replay",
                 "verdict old K", "business old K", "deal old K", "timeline", "show",
                 "refold old K (before the index)", "timeline / verdict (large)",
                 "export sqlite (fresh)", "export refresh, 1 fact (latest)",
                 "export refresh, 1 fact (mid)", "refresh (latest) / verdict (large)",
                 "refresh (mid) / verdict (large)", '{"missed": ['):
        assert line in done.stdout, line


def test_proofs_benchmark_prints_its_figures_and_ratios() -> None:
    done = bench("bench.proofs", "--small", "40", "--large", "120", "--batches", "2",
                 "--rounds", "1")
    assert done.returncode == 0, done.stderr
    for line in ("verifiable log: 40 vs 120 facts in 2 batches, best of 1", "CPU:",
                 "digest (baseline)", "checkpoint", "prove", "consistency",
                 "verify --against (re-reads all)", '{"missed": '):
        assert line in done.stdout, line


def test_one_deal_benchmark_prints_both_shapes_and_the_ratios() -> None:
    done = bench("bench.one_deal", "--n", "300", "--spread", "20", "--batches", "2")
    assert done.returncode == 0, done.stderr
    assert "300 facts in 2 batches: on one deal, and over 20 deals" in done.stdout
    for name in ("ledger file", "append (a batch)", "verdict", "deal", "timeline --json",
                 "replay", "largest peak RSS"):
        assert any(line.startswith(name) for line in done.stdout.splitlines()), name
    assert '"missed": []' in done.stdout
