"""The as-of benchmark (PRODUCT.md, "Bars it must clear").

Builds two SQLite ledgers in a temporary directory, ``--small`` and ``--large`` synthetic
facts (:func:`bench.synthetic.generate`, the same deals and offerings: only the number of
facts differs), catches each one's maintained projection up once (timed for information, not
as part of the question), then asks ``verdict --as-of 2026-05-23 --json`` of each:

(i)   in-process through the API, ``ComputeLedger.open(path).verdict(as_of=...)`` encoded as
      the command prints it, a fresh ComputeLedger each round so no in-memory cache helps;
(ii)  as the real command, ``compute-ledger verdict --as-of 2026-05-23 --json --db PATH``, in
      a process of its own: wall time and peak RSS (``ru_maxrss`` from ``os.wait4``, taken
      by a small launcher process, see :data:`bench.common.LAUNCHER`).  Nearly all of its
      time is the interpreter starting and importing, so (i) is the stricter look at the
      question.

Each is the best of ``--rounds`` (peak RSS: the largest seen).  The bars: the large ledger's
question costs at most three times the small one's, (i) and (ii) alike, and the command's
peak memory stays under 500 MB.  For information: what a full replay per question would cost
(``ComputeLedger.replayed`` then the verdict, in a subprocess: time and peak RSS), the
Python heap one question allocates at its peak (tracemalloc), and a question asked right
after one more fact is appended (it pays the incremental catch-up).

Usage::

    python -m bench.asof [--small 1000] [--large 100000] [--rounds 5] [--check]

``--check`` exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench.common import Run, machine, run_process
from bench.replay import best_of, build_ledger, load
from bench.synthetic import generate
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.projections.api import ComputeLedger
from compute_ledger.projections.runner import StoredView

AS_OF = "2026-05-23"
RATIO_BAR = 3.0
MEMORY_BAR = 500 * 2**20
SEED = 7

REPLAY_SCRIPT = """\
import sys
from compute_ledger.ledger.instants import parse_instant
from compute_ledger.projections import verdict
from compute_ledger.projections.api import ComputeLedger
with ComputeLedger.open(sys.argv[1], environ={}) as ledger:
    as_of, known_at = ledger.moments(parse_instant(sys.argv[2]), None)
    answer = verdict.verdict(ledger.replayed(ledger.head().position), as_of, known_at)
print(answer.status, answer.ledger_position)
"""
"""A full replay per question: every fact folded afresh, then the verdict."""

_JSON = msgspec.json.Encoder(enc_hook=str)  # as the command encodes its answers


# ---------------------------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------------------------


def command_line() -> tuple[list[str], str]:
    """The installed ``compute-ledger`` script next to this interpreter, else its entry
    point run by this interpreter."""
    script = Path(sys.executable).parent / "compute-ledger"
    if script.is_file():
        return [str(script)], str(script)
    return [sys.executable, "-c", "from cli.main import main; main()"], "cli.main:main"


def answered(run: Run, head: int) -> Run:
    """The command printed the verdict, standing on the whole ledger."""
    answer = json.loads(run.stdout)
    assert answer["ledger_position"] == head and answer["status"], answer
    return run


def replayed(run: Run, head: int) -> Run:
    """The replay folded the whole ledger."""
    assert run.stdout.split()[1] == str(head), run.stdout
    return run


def ask(path: Path, head: int) -> Callable[[], float]:
    """(i): a fresh ComputeLedger, the verdict as of AS_OF, encoded as the command prints it."""
    as_of = parse_instant(AS_OF)

    def run() -> float:
        started = time.perf_counter()
        with ComputeLedger.open(str(path), environ={}) as ledger:
            answer = ledger.verdict(as_of=as_of)
            _JSON.encode(answer)
        seconds = time.perf_counter() - started
        assert answer.ledger_position == head, (answer.ledger_position, head)
        return seconds

    return run


def heap_peak(path: Path, head: int) -> int:
    """The Python heap one question allocates at its peak (tracemalloc), in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        ask(path, head)()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def catch_up(path: Path) -> tuple[int, float]:
    """Bring the maintained projection up to the head (once, before any question), and make
    sure a question is answered from it; returns (head position, seconds)."""
    with ComputeLedger.open(str(path), environ={}) as ledger:
        started = time.perf_counter()
        ledger.projection.catch_up()
        seconds = time.perf_counter() - started
        head = ledger.head().position
        assert ledger.projection.tracked()[0] == head, (ledger.projection.tracked(), head)
        assert isinstance(ledger.histories(), StoredView), "not the maintained projection"
    return head, seconds


def after_one_more(path: Path, template: F.Fact, rounds: int) -> float:
    """Append one more fact (a fresh id), then ask: the question pays the incremental
    catch-up.  Best of ``rounds``; each round appends its own fact."""
    as_of = parse_instant(AS_OF)
    times = []
    for r in range(rounds):
        with ComputeLedger.open(str(path), environ={}) as ledger:
            result = ledger.append([msgspec.structs.replace(template, id=f"bench-asof-{r}")])
            ledger.sync_index()
            assert result.appended == 1, result
        gc.collect()
        started = time.perf_counter()
        with ComputeLedger.open(str(path), environ={}) as ledger:
            answer = ledger.verdict(as_of=as_of)
            _JSON.encode(answer)
        times.append(time.perf_counter() - started)
        assert answer.ledger_position == result.head.position
    return min(times)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass
class Size:
    """One ledger and what was measured on it (times: one per round)."""

    facts: int
    path: Path
    head: int = 0
    mb: float = 0.0
    built: float = 0.0
    caught_up: float = 0.0
    asked: list[float] = field(default_factory=list)
    commands: list[Run] = field(default_factory=list)
    replays: list[Run] = field(default_factory=list)
    heap: int = 0
    incremental: float = 0.0

    @property
    def in_process(self) -> float:
        return min(self.asked)

    @property
    def command(self) -> float:
        return min(r.seconds for r in self.commands)

    @property
    def command_rss(self) -> int:
        """The largest peak RSS of any run of the command."""
        return max(r.peak_rss for r in self.commands)

    @property
    def answer_kb(self) -> float:
        """The size of the command's answer, as printed."""
        return len(self.commands[0].stdout.encode()) / 1000

    @property
    def replay(self) -> float:
        return min(r.seconds for r in self.replays)

    @property
    def replay_rss(self) -> int:
        return max(r.peak_rss for r in self.replays)


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000, help="facts, small ledger (1000)")
    parser.add_argument("--large", type=int, default=100_000,
                        help="facts, large ledger (100000)")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds (5)")
    parser.add_argument("--replay-rounds", type=int, default=2,
                        help="rounds of the full-replay comparison, at most --rounds (2)")
    parser.add_argument("--seed", type=int, default=SEED, help="generator seed")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 unless large/small <= {RATIO_BAR:g} (in-process and "
                        f"command) and the command's peak RSS < {mib(MEMORY_BAR)}")
    args = parser.parse_args(argv)
    if min(args.small, args.large, args.rounds, args.replay_rounds) < 1:
        parser.error("--small, --large, --rounds and --replay-rounds must be positive")

    command, described = command_line()
    print(f"compute-ledger verdict --as-of {AS_OF} --json: {args.small:,} vs {args.large:,} "
          f"facts, best of {args.rounds} rounds")
    for line in machine():
        print("  " + line)
    print("  " + load())
    print(f"  command: {described}")

    with tempfile.TemporaryDirectory(prefix="compute-ledger-bench-") as tmp:
        sizes = [Size(args.small, Path(tmp) / "small.sqlite3"),
                 Size(args.large, Path(tmp) / "large.sqlite3")]
        template: F.Fact | None = None
        for size in sizes:
            facts = generate(size.facts, seed=args.seed)
            started = time.perf_counter()
            build_ledger(size.path, facts)
            size.built = time.perf_counter() - started
            template = next(f for f in reversed(facts) if isinstance(f, F.Announcement))
            del facts
            size.head, size.caught_up = catch_up(size.path)
            size.mb = size.path.stat().st_size / 1e6
        assert template is not None
        # Round by round, the small ledger then the large one, so a noisy spell of the
        # machine hits both alike; the best of each is kept.
        verdict_args = ["verdict", "--as-of", AS_OF, "--json", "--db"]
        for r in range(args.rounds):
            for size in sizes:
                size.asked.append(best_of(1, ask(size.path, size.head)))
                size.commands.append(answered(
                    run_process([*command, *verdict_args, str(size.path)]), size.head))
                if r < args.replay_rounds:
                    size.replays.append(replayed(run_process(
                        [sys.executable, "-c", REPLAY_SCRIPT, str(size.path), AS_OF]),
                        size.head))
        for size in sizes:
            size.heap = heap_peak(size.path, size.head)
        for size in sizes:
            size.incremental = after_one_more(size.path, template, args.rounds)

    small, large = sizes
    print()
    print(f"  {'':<50} {f'{small.facts:,} facts':>16} {f'{large.facts:,} facts':>16} "
          f"{'ratio':>7}")

    def row(name: str, a: str, b: str, ratio: str = "") -> None:
        print(f"  {name:<50} {a:>16} {b:>16} {ratio:>7}")

    row("ledger file", f"{small.mb:.1f} MB", f"{large.mb:.1f} MB")
    row("built (append), for info", f"{small.built:.2f} s", f"{large.built:.2f} s")
    row("projection caught up once, for info", f"{small.caught_up:.2f} s",
        f"{large.caught_up:.2f} s")
    in_ratio = large.in_process / small.in_process
    row("(i) in-process: open + verdict + JSON", ms(small.in_process), ms(large.in_process),
        f"{in_ratio:.2f}")
    row("    Python heap at its peak (tracemalloc)", mib(small.heap), mib(large.heap))
    cmd_ratio = large.command / small.command
    row("(ii) the command, own process: wall", ms(small.command),
        ms(large.command), f"{cmd_ratio:.2f}")
    row("     peak RSS", mib(small.command_rss), mib(large.command_rss))
    row("     answer size (JSON, as printed)", f"{small.answer_kb:,.0f} kB",
        f"{large.answer_kb:,.0f} kB", f"{large.answer_kb / small.answer_kb:.2f}")
    row("full replay per question (own process), for info", ms(small.replay),
        ms(large.replay), f"{large.replay / small.replay:.2f}")
    row("     peak RSS", mib(small.replay_rss), mib(large.replay_rss))
    row("one fact appended, then (i), for info", ms(small.incremental), ms(large.incremental),
        f"{large.incremental / small.incremental:.2f}")

    verdicts = {
        "in-process": in_ratio <= RATIO_BAR,
        "command": cmd_ratio <= RATIO_BAR,
        "memory": large.command_rss < MEMORY_BAR,
    }

    def said(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print()
    print(f"  (i)  in-process {large.facts:,} / {small.facts:,}: {in_ratio:.2f}  "
          f"(bar <= {RATIO_BAR:g}: {said(verdicts['in-process'])})")
    rounds = "  ".join(f"{b / a:.2f}" for a, b in zip(small.asked, large.asked, strict=True))
    print(f"       round by round: {rounds}")
    print(f"  (ii) command    {large.facts:,} / {small.facts:,}: {cmd_ratio:.2f}  "
          f"(bar <= {RATIO_BAR:g}: {said(verdicts['command'])}); it answers on "
          f"{large.facts:,} facts in {ms(large.command)} (PRODUCT.md: well under a second)")
    print(f"  peak memory of the command on {large.facts:,} facts: "
          f"{mib(large.command_rss)}  (bar < {mib(MEMORY_BAR)}: {said(verdicts['memory'])})")
    print(f"  (for info: a full replay per question costs {large.replay:.2f} s and "
          f"{mib(large.replay_rss)} on {large.facts:,} facts, "
          f"{large.replay / large.command:.1f}x the command's time)")
    missed = [name for name, ok in verdicts.items() if not ok]
    if args.check and missed:
        print(f"FAIL: bars missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
