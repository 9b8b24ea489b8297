"""Linear per subject (issue 12): many facts on one deal against the same number spread out.

Builds two SQLite ledgers of ``--n`` synthetic facts (:func:`bench.synthetic.generate`, one
offering each): one where every deal fact is about **one** deal, one where they are spread
over ``--spread`` deals.  Each is appended in ``--batches`` batches by the whole ``append``
command (which catches the index up), so the index holds every batch end as it would in use;
then ``verdict``, ``deal D``, ``timeline --json`` and ``replay`` run on each, every command in
a process of its own (wall time, and peak RSS from ``os.wait4`` in a small launcher).

Printed side by side: the ledger file's size, and each command's time and peak RSS, with the
ratio one deal / spread.  Storage that grew with the square of a subject's facts (a subject's
whole state stored again at every step) shows here as a file and a memory many times those of
the spread ledger; the bar is at most 3x, for the file and for the largest peak RSS.
``--check`` exits 1 when one is missed.

Usage::

    python -m bench.one_deal [--n 20000] [--spread 1000] [--batches 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.append import jsonl
from bench.common import machine, run_process
from bench.synthetic import generate

RATIO_BAR = 3.0
SEED = 7
AS_OF = "2026-05-23"


def build(path: Path, n: int, deals: int, batches: int) -> dict[str, tuple[float, int]]:
    """Append ``n`` facts over ``deals`` deals in ``batches`` whole ``append`` commands; the
    slowest batch's time and the largest peak RSS among them."""
    facts = generate(n, deals=deals, offerings=1, seed=SEED)
    size = -(-len(facts) // batches)
    cli = [sys.executable, "-m", "compute_ledger.cli.main"]
    worst = (0.0, 0)
    for start in range(0, len(facts), size):
        batch = path.with_suffix(f".{start}.jsonl")
        batch.write_bytes(jsonl(facts[start:start + size]))
        run = run_process([*cli, "append", str(batch), "--db", str(path)])
        batch.unlink()
        worst = (max(worst[0], run.seconds), max(worst[1], run.peak_rss))
    return {"append (a batch)": worst}


def measure(path: Path) -> dict[str, tuple[float, int]]:
    cli = [sys.executable, "-m", "compute_ledger.cli.main"]
    db = ["--db", str(path)]
    commands = {
        "verdict": ["verdict", "--as-of", AS_OF, "--json"],
        "deal": ["deal", "deal-0", "--as-of", AS_OF, "--json"],
        "timeline --json": ["timeline", "--json"],
        "replay": ["replay", "--json"],
    }
    found: dict[str, tuple[float, int]] = {}
    for name, args in commands.items():
        run = run_process([*cli, *args, *db])
        found[name] = (run.seconds, run.peak_rss)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--spread", type=int, default=1000,
                        help="deals the other ledger spreads its facts over (1000)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 unless file and peak RSS are at most {RATIO_BAR}x")
    args = parser.parse_args(argv)
    if min(args.n, args.spread, args.batches) < 1:
        parser.error("--n, --spread and --batches must be positive")
    for line in machine():
        print(line)
    figures: dict[str, dict[str, tuple[float, int]]] = {}
    files: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="compute-ledger-bench-") as tmp:
        for shape, deals in (("one deal", 1), (f"{args.spread} deals", args.spread)):
            path = Path(tmp) / f"{deals}.sqlite3"
            figures[shape] = {**build(path, args.n, deals, args.batches), **measure(path)}
            files[shape] = path.stat().st_size
    one, spread = figures
    print(f"{args.n:,} facts in {args.batches} batches: on one deal, and over {spread}")
    print(f"{'':24}{one:>22}{spread:>22}  ratio")
    file_ratio = files[one] / files[spread]
    print(f"{'ledger file':24}{files[one] / 2**20:>19.1f} MB{files[spread] / 2**20:>19.1f} MB"
          f"  {file_ratio:5.2f}")
    for name in figures[one]:
        (t1, m1), (t2, m2) = figures[one][name], figures[spread][name]
        print(f"{name:24}{t1 * 1000:>9.0f} ms {m1 / 2**20:>6.0f} MB"
              f"{t2 * 1000:>9.0f} ms {m2 / 2**20:>6.0f} MB  {t1 / t2:5.2f} {m1 / m2:5.2f}")
    rss_ratio = max(m for _, m in figures[one].values()) / \
        max(m for _, m in figures[spread].values())
    print(f"{'largest peak RSS':24}{'':44}  {rss_ratio:5.2f}")
    missed = [name for name, ratio in (("ledger file", file_ratio), ("peak RSS", rss_ratio))
              if ratio > RATIO_BAR]
    print(json.dumps({"file_ratio": round(file_ratio, 2), "rss_ratio": round(rss_ratio, 2),
                      "missed": missed}))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
