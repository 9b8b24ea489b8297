"""The replay benchmark (PRODUCT.md, "Bars it must clear").

Builds a SQLite ledger of ``--n`` synthetic facts (:func:`bench.synthetic.generate`, one
append) in a temporary directory, then measures in one run, best of ``--rounds``:

(baseline) a raw ``sqlite3`` ``SELECT state FROM stored_events`` in ledger order (through the
           unique index on the stream and version, as ``Ledger.stream`` reads; the plain
           ``ORDER BY originator_version``, which sorts and is slower, is shown for
           information) plus a msgspec decode of every row into a Struct holding the fact
           typed (what ``Ledger.stream`` decodes: the record's fact, hash, position and
           ``recorded_at``, with the ledger's own decoder), each dropped at once: the
           strictest baseline;
(a)        the reference rebuild, ``ComputeLedger.replayed(head)``: every projection's
           histories folded in memory from the raw facts (``build_view`` over
           ``Ledger.stream``, what ``compute-ledger replay`` does);
(b)        the maintained projection rebuilt from scratch: ``Projection.reset()`` then
           ``Projection.catch_up()``, which also writes its tables.

The bar: (a) folds at least a third of the baseline's rate.  (b) is reported beside it.

Usage::

    python -m bench.replay [--n 100000] [--rounds 3] [--check] [--profile]

``--check`` exits 1 when (a) misses the bar; ``--profile`` prints where one round of (b)
spends its time (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from bench.append import Timing
from bench.common import machine
from bench.synthetic import generate
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.store import LEDGER_ID
from compute_ledger.projections.api import ComputeLedger
from compute_ledger.projections.view import View

BAR = 1 / 3
SEED = 7

RAW_QUERY = ("SELECT state FROM stored_events WHERE originator_id = ? "
             "ORDER BY originator_version")
"""The baseline's query: the ledger's rows in order, through the unique index that
``Ledger.stream`` reads too (the fastest way to get them in order)."""
PLAIN_QUERY = "SELECT state FROM stored_events ORDER BY originator_version"
"""The same rows without naming the stream: SQLite sorts them in a temporary B-tree
(slower; reported for information)."""


class StoredFact(msgspec.Struct, frozen=True, gc=False):
    """A stored record read for its fact, typed: the shape ``Ledger.stream`` decodes."""

    fact: F.Fact
    hash: str
    position: int
    recorded_at: str


_DECODER = F.decoder(StoredFact)


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def load() -> str:
    """The machine's load when a benchmark starts (it shares the CPUs with anything else)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "load:    unknown"
    return f"load:    {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min averages, at the start)"


def best_of(rounds: int, run: Callable[[], float]) -> float:
    """The fastest of ``rounds`` runs (a full collection before each); ``run`` returns seconds."""
    times = []
    for _ in range(rounds):
        gc.collect()
        times.append(run())
    return min(times)


def timed(action: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    return run


def build_ledger(path: Path, facts: list[F.Fact]) -> int:
    """A ledger at ``path`` holding ``facts`` (one append); returns its head position."""
    with ComputeLedger.open(str(path), environ={}) as ledger:
        result = ledger.append(facts)
        ledger.sync_index()
    assert result.appended == len(facts), result
    return result.head.position


# ---------------------------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------------------------


def raw_decode(path: Path, n: int, query: str = RAW_QUERY, *, decode: bool = True
               ) -> Callable[[], float]:
    """The baseline: select every record's state, decode each into :class:`StoredFact`
    (with ``decode=False``, the SELECT alone, for information)."""
    params: tuple[str, ...] = (LEDGER_ID.hex,) if "?" in query else ()

    def run() -> float:
        started = time.perf_counter()
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(query, params)
            count = 0
            if decode:  # the branch outside the loop: the baseline's loop stays as lean
                decoding = _DECODER.decode
                for (state,) in rows:
                    decoding(state)
                    count += 1
            else:
                count = sum(1 for _ in rows)
        finally:
            conn.close()
        seconds = time.perf_counter() - started
        assert count == n, (count, n)
        return seconds

    return run


def reference_rebuild(ledger: ComputeLedger, n: int) -> Callable[[], float]:
    """(a): every projection's histories folded in memory from the raw facts."""

    def run() -> float:
        started = time.perf_counter()
        view: View = ledger.replayed(n)
        seconds = time.perf_counter() - started
        assert view.position == n, (view.position, n)
        return seconds

    return run


def maintained_rebuild(ledger: ComputeLedger, n: int, split: list[tuple[float, float]]
                       ) -> Callable[[], float]:
    """(b): the maintained projection forgotten, then caught up from the first fact; the
    (reset, catch-up) split of each round goes to ``split``."""

    def run() -> float:
        started = time.perf_counter()
        ledger.projection.reset()
        reset = time.perf_counter()
        ledger.projection.catch_up()
        done = time.perf_counter()
        assert ledger.projection.tracked()[0] == n
        split.append((reset - started, done - reset))
        return done - started

    return run


def profile(action: Callable[[], object], limit: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(action)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="facts in the ledger (100000)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds (3)")
    parser.add_argument("--seed", type=int, default=SEED, help="generator seed")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless (a) / baseline >= 1/3")
    parser.add_argument("--profile", action="store_true",
                        help="print where one round of (b) spends its time")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be positive")

    print(f"compute-ledger replay: {args.n:,} facts, best of {args.rounds} rounds")
    for line in machine():
        print("  " + line)
    print("  " + load())

    with tempfile.TemporaryDirectory(prefix="compute-ledger-bench-") as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        started = time.perf_counter()
        facts = generate(args.n, seed=args.seed)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        head = build_ledger(path, facts)
        built = time.perf_counter() - started
        del facts
        print(f"  ledger:  {head:,} facts, {path.stat().st_size / 1e6:.1f} MB "
              f"(generated in {generated:.1f} s, appended in {built:.1f} s)")

        split: list[tuple[float, float]] = []
        with ComputeLedger.open(str(path), environ={}) as ledger:
            # Round by round, each measure in turn, so a noisy spell of the machine hits
            # the baseline and the rebuilds alike; the best of each is kept.
            measures: dict[str, Callable[[], float]] = {
                "raw": raw_decode(path, head),
                "select": raw_decode(path, head, decode=False),
                "plain": raw_decode(path, head, PLAIN_QUERY),
                "stream": timed(lambda: sum(1 for _ in ledger.ledger.stream())),
                "reference": reference_rebuild(ledger, head),
                "maintained": maintained_rebuild(ledger, head, split),
            }
            times: dict[str, list[float]] = {name: [] for name in measures}
            for _ in range(args.rounds):
                for name, measure in measures.items():
                    times[name].append(best_of(1, measure))
            report = profile(maintained_rebuild(ledger, head, [])) if args.profile else ""
        raw_s, select_s, plain_s, stream_s, reference_s, maintained_s = (
            min(times[name]) for name in measures)

    reset_s, catch_up_s = min(split, key=sum)
    timings = [
        Timing("(baseline) raw SELECT + msgspec decode", head, raw_s),
        Timing("    SELECT alone, for info", head, select_s),
        Timing("    baseline without the id (sorts), for info", head, plain_s),
        Timing("    Ledger.stream() alone, for info", head, stream_s),
        Timing("(a) reference rebuild: replayed(head)", head, reference_s),
        Timing("(b) maintained projection: reset + catch_up", head, maintained_s),
        Timing("    of which reset", head, reset_s),
        Timing("    of which catch_up", head, catch_up_s),
    ]
    print()
    print(f"  {'':<46} {'facts':>9} {'seconds':>9} {'facts/s':>11}")
    for t in timings:
        print(f"  {t.name:<46} {t.facts:>9,} {t.seconds:>9.3f} {t.rate:>11,.0f}")
    reference_ratio = raw_s / reference_s
    maintained_ratio = raw_s / maintained_s
    met = reference_ratio >= BAR
    print()
    print(f"  (a) reference rebuild / baseline:   {reference_ratio:.3f}  "
          f"(bar >= {BAR:.3f}: {'met' if met else 'NOT MET'})")
    print(f"  (b) maintained rebuild / baseline:  {maintained_ratio:.3f}  "
          f"(bar >= {BAR:.3f}: {'met' if maintained_ratio >= BAR else 'NOT MET'}; "
          "reported, not checked)")
    rounds = "  ".join(f"{r / a:.3f}" for r, a in zip(times["raw"], times["reference"],
                                                       strict=True))
    print(f"  (a) / baseline round by round:      {rounds}")
    print(f"  (for info: Ledger.stream() / baseline: {raw_s / stream_s:.2f}; "
          f"(a) folding alone, beyond the stream: {reference_s - stream_s:.3f} s)")
    if report:
        print()
        print("  where one round of (b) spends its time (cProfile, cumulative):")
        print(report)
    if args.check and not met:
        print(f"FAIL: reference rebuild / baseline {reference_ratio:.3f} < {BAR:.3f}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
