"""The verifiable log's commands on a small and a large ledger (issue 13).

Builds SQLite ledgers of ``--small`` and ``--large`` synthetic facts
(:func:`bench.synthetic.generate`) in ``--batches`` appends, makes a signer key, pins a
checkpoint after the first batch, then runs whole commands, each in a process of its own
(wall time, and peak RSS from ``os.wait4`` in :data:`bench.common.LAUNCHER`):

* ``checkpoint --key K``: the signed tree head;
* ``prove ID --key K`` of a fact in the middle of the ledger;
* ``consistency --from C``: the proof that the ledger extends the pinned checkpoint;
* ``verify --against C`` for information: it re-reads every record, so it grows with the
  ledger by design (the consistency proof inside it does not).

The baseline, measured in the same run, is the command that does nothing but open the
ledger and print its head (``digest``).  Bars (issue 13): ``checkpoint``, ``prove`` and
``consistency`` on the large ledger at most 3x their cost on the small one; ``--check``
exits 1 when one is missed.  Appending stays within the append bar: ``bench.append``
measures that.

Usage::

    python -m bench.proofs [--small 1000] [--large 100000] [--batches 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.common import machine, run_process
from bench.synthetic import generate
from compute_ledger.projections.api import ComputeLedger

RATIO_BAR = 3.0
BARRED = ("checkpoint", "prove", "consistency")
SEED = 11


def build(path: Path, key: Path, n: int, batches: int) -> str:
    """A ledger of ``n`` facts in ``batches`` appends, a checkpoint pinned after the first
    (written beside it); returns the id of a fact in the middle."""
    facts = generate(n, seed=SEED)
    size = -(-len(facts) // batches)
    with ComputeLedger.open(str(path), environ={}) as ledger:
        for number, start in enumerate(range(0, len(facts), size)):
            ledger.append(facts[start:start + size])
            if number == 0:
                pinned = run_process([*cli(), "checkpoint", "--key", str(key), "--db",
                                      str(path)])
                path.with_suffix(".checkpoint").write_text(pinned.stdout)
    fact = facts[len(facts) // 2].id
    assert fact is not None
    return fact


def cli() -> list[str]:
    return [sys.executable, "-m", "compute_ledger.cli.main"]


def best(command: list[str], rounds: int) -> tuple[float, int]:
    runs = [run_process(command) for _ in range(rounds)]  # a failure raises
    return min(r.seconds for r in runs), max(r.peak_rss for r in runs)


def measure(path: Path, key: Path, fact: str, rounds: int) -> dict[str, tuple[float, int]]:
    db = ["--db", str(path)]
    pinned = str(path.with_suffix(".checkpoint"))
    commands = {
        "digest (baseline)": ["digest"],
        "checkpoint": ["checkpoint", "--key", str(key)],
        "prove": ["prove", fact, "--key", str(key)],
        "consistency": ["consistency", "--from", pinned],
        "verify --against (re-reads all)": ["verify", "--against", pinned],
    }
    return {name: best([*cli(), *args, *db], rounds) for name, args in commands.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if min(args.small, args.large, args.batches, args.rounds) < 1:
        parser.error("sizes, batches and rounds must be positive")
    print("\n".join(machine()))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "bench.key"
        run_process([*cli(), "keygen", "--name", "bench.example/log", "--out", str(key)])
        for name, n in (("small", args.small), ("large", args.large)):
            path = Path(tmp) / f"{name}.sqlite3"
            fact = build(path, key, n, args.batches)
            results[name] = measure(path, key, fact, args.rounds)
    print(f"verifiable log: {args.small} vs {args.large} facts in {args.batches} batches, "
          f"best of {args.rounds}")
    print(f"{'command':<34} {'small':>9} {'large':>9} {'ratio':>6} {'large RSS':>10}")
    missed = []
    for what, (small, _) in results["small"].items():
        large, rss = results["large"][what]
        ratio = large / small
        flag = ""
        if what in BARRED:
            flag = "  ok" if ratio <= RATIO_BAR else "  MISSED (bar 3x)"
            if ratio > RATIO_BAR:
                missed.append(what)
        print(f"{what:<34} {small * 1000:>7.0f}ms {large * 1000:>7.0f}ms {ratio:>6.2f} "
              f"{rss / 2**20:>8.0f}MB{flag}")
    print(json.dumps({"missed": missed}))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
