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
(a)        what ``compute-ledger replay`` rebuilds: the index folded from the raw facts
           into a scratch file (``Ledger.scratch``, then ``Projection.catch_up``), through
           the bounded fold every catch-up uses;
(b)        the maintained projection rebuilt in place: ``Projection.reset()`` then
           ``Projection.catch_up()``;
(c)        the reference fold, ``ComputeLedger.replayed(head)``: every history folded in
           memory (``build_view`` over ``Ledger.stream``), what the property tests hold the
           index equal to, and what ``replay`` folded until its memory had to stay bounded
           (it grows with the ledger: 4.81 GB at a million facts).

Each is reported against the baseline; no bar applies to the rate (PRODUCT.md bars replay's
memory, which ``bench.known_at --huge`` checks).

Usage::

    python -m bench.replay [--n 100000] [--rounds 3] [--profile]

``--profile`` prints where one round of (a) spends its time (cProfile, cumulative).
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
from compute_ledger.projections.runner import Projection
from compute_ledger.projections.view import View

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


def scratch_rebuild(ledger: ComputeLedger, n: int) -> Callable[[], float]:
    """(a): the index rebuilt from the raw facts in a scratch file, as ``replay`` does."""

    def run() -> float:
        started = time.perf_counter()
        with ledger.ledger.scratch() as scratch:
            rebuilt = Projection(scratch)
            rebuilt.catch_up()
            assert rebuilt.tracked()[0] == n
        return time.perf_counter() - started

    return run


def reference_rebuild(ledger: ComputeLedger, n: int) -> Callable[[], float]:
    """(c): every history folded in memory from the raw facts."""

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
    parser.add_argument("--profile", action="store_true",
                        help="print where one round of (a) spends its time")
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
                "scratch": scratch_rebuild(ledger, head),
                "maintained": maintained_rebuild(ledger, head, split),
                "reference": reference_rebuild(ledger, head),
            }
            times: dict[str, list[float]] = {name: [] for name in measures}
            for _ in range(args.rounds):
                for name, measure in measures.items():
                    times[name].append(best_of(1, measure))
            report = profile(scratch_rebuild(ledger, head)) if args.profile else ""
        raw_s, select_s, plain_s, stream_s, scratch_s, maintained_s, reference_s = (
            min(times[name]) for name in measures)

    reset_s, catch_up_s = min(split, key=sum)
    timings = [
        Timing("(baseline) raw SELECT + msgspec decode", head, raw_s),
        Timing("    SELECT alone, for info", head, select_s),
        Timing("    baseline without the id (sorts), for info", head, plain_s),
        Timing("    Ledger.stream() alone, for info", head, stream_s),
        Timing("(a) replay's rebuild, in a scratch file", head, scratch_s),
        Timing("(b) maintained projection: reset + catch_up", head, maintained_s),
        Timing("    of which reset", head, reset_s),
        Timing("    of which catch_up", head, catch_up_s),
        Timing("(c) reference fold in memory: replayed(head)", head, reference_s),
    ]
    print()
    print(f"  {'':<46} {'facts':>9} {'seconds':>9} {'facts/s':>11}")
    for t in timings:
        print(f"  {t.name:<46} {t.facts:>9,} {t.seconds:>9.3f} {t.rate:>11,.0f}")
    print()
    for label, seconds in (("(a) replay's rebuild", scratch_s),
                           ("(b) maintained rebuild", maintained_s),
                           ("(c) reference fold", reference_s)):
        print(f"  {label + ' / baseline:':<34} {raw_s / seconds:.3f}")
    print(f"  (for info: Ledger.stream() / baseline: {raw_s / stream_s:.2f}; "
          f"(c) folding alone, beyond the stream: {reference_s - stream_s:.3f} s)")
    if report:
        print()
        print("  where one round of (a) spends its time (cProfile, cumulative):")
        print(report)
    return 0

if __name__ == "__main__":
    sys.exit(main())
