"""The bulk-append benchmark (PRODUCT.md, "Bars it must clear").

Measures, in one run, on fresh SQLite files in a temporary directory, best of ``--rounds``:

(a) ``ComputeLedger.open(path, environ={}).append(facts)``, the facts already through the
    door (decoded and checked by ``check_facts``; the door's own cost is in (d), and shown
    for facts built in Python, for information);
(b) raw ``sqlite3.executemany`` inserting exactly the bytes the ledger stored (its
    ``stored_events`` rows, read back) into a fresh table of the same shape, WAL mode as
    eventsourcing uses, in one transaction;
(c) one ``Application.save()`` per fact with eventsourcing's default JSON transcoder, on a
    subset, reported as a rate (the bar: (a) is many times faster);
(d) end to end from JSON Lines text in this process: parse, check, append (for information);
(e) the whole ``compute-ledger append FILE`` command in a process of its own: parse, check,
    write, the fact index, the Merkle tree and the bitemporal index caught up, against
(f) raw ``sqlite3.executemany`` as a whole command of its own: read the same file, insert
    each line as a record (the bar, issue 12: (e) is at least half the rate of (f)).

Then **ceilings**, what the bar's ratio could be at best if all but some parts cost
nothing, measured on the same bytes in the same run against (b):

* the typed decoding alone (msgspec, into the fact types, no other check) and the raw
  insert of the records: a bound for any append that decodes its input into typed facts;
* the raw insert, computation free, of every row the whole command wrote (the records, the
  fact index, the Merkle nodes, every table of the bitemporal index, with their indexes):
  a bound for any append that maintains this index in the same command;
* both together.

Usage::

    python -m bench.append [--n 100000] [--rounds 3] [--per-save 2000] [--check]

``--check`` exits 1 when the bar, the whole command against raw, is not met.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import machine, run_process
from bench.synthetic import generate
from compute_ledger.ledger import facts as F
from compute_ledger.ledger.bulk import paused_gc
from compute_ledger.projections.api import ComputeLedger

RAW_BAR = 0.5
SEED = 20260506


def jsonl(facts: list[F.Fact]) -> bytes:
    return b"\n".join(F.canonical_bytes(f) for f in facts) + b"\n"


# ---------------------------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    facts: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.facts / self.seconds


def best(rounds: int, run: Callable[[Path], float], workdir: Path, label: str) -> float:
    """The fastest of ``rounds`` runs, each in a fresh directory; ``run`` returns seconds."""
    times = []
    for r in range(rounds):
        where = workdir / f"{label}-{r}"
        where.mkdir()
        gc.collect()
        times.append(run(where))
    return min(times)


def ledger_append(facts: list[F.Checked], indexing: list[float]) -> Callable[[Path], float]:
    """The append; the time to bring the fact index up to date afterwards (which the next
    append, or `compute-ledger append` right away, does) goes to ``indexing``."""

    def run(where: Path) -> float:
        with ComputeLedger.open(str(where / "ledger.sqlite3"), environ={}) as ledger:
            started = time.perf_counter()
            result = ledger.append(facts)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            assert ledger.sync_index() == len(facts)
            indexing.append(time.perf_counter() - started)
        assert result.appended == len(facts), result
        return seconds

    return run


def ledger_append_text(text: bytes, n: int) -> Callable[[Path], float]:
    def run(where: Path) -> float:
        with ComputeLedger.open(str(where / "ledger.sqlite3"), environ={}) as ledger:
            started = time.perf_counter()
            result = ledger.append_text(text)
            seconds = time.perf_counter() - started
        assert result.appended == n, result
        return seconds

    return run


@dataclass(frozen=True)
class Table:
    create: str
    insert: str
    rows: list[tuple[Any, ...]]


def stored_table(path: Path, name: str, columns: str, order: str) -> Table:
    """A table of the ledger's file as the ledger wrote it: its CREATE TABLE and its rows."""
    conn = sqlite3.connect(path)
    try:
        [(create,)] = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchall()
        rows = conn.execute(f"SELECT {columns} FROM {name} ORDER BY {order}").fetchall()
    finally:
        conn.close()
    marks = ", ".join("?" * len(columns.split(",")))
    return Table(create, f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)


def raw_executemany(*tables: Table) -> Callable[[Path], float]:
    """Fresh tables of the same shape, WAL mode, one transaction, one executemany each."""

    def run(where: Path) -> float:
        conn = sqlite3.connect(where / "raw.sqlite3", isolation_level=None)
        try:
            assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
            for table in tables:
                conn.executescript(table.create)
            started = time.perf_counter()
            conn.execute("BEGIN")
            for table in tables:
                if table.rows:
                    conn.executemany(table.insert, table.rows)
            conn.execute("COMMIT")
            seconds = time.perf_counter() - started
            for table in tables:
                name = table.insert.split()[2]
                if not table.rows:
                    continue
                [(count,)] = conn.execute(f"SELECT COUNT(*) FROM {name}").fetchall()
                assert count == len(table.rows)
        finally:
            conn.close()
        return seconds

    return run


RAW_COMMAND = """\
import sqlite3, sys
data = open(sys.argv[1], "rb").read()
rows = [(b"0123456789abcdef", i, "Fact", line)
        for i, line in enumerate(filter(None, data.split(b"\\n")), start=1)]
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE stored_events (originator_id BLOB NOT NULL, "
             "originator_version INTEGER NOT NULL, topic TEXT, state BLOB, "
             "PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID")
conn.execute("BEGIN")
conn.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
conn.execute("COMMIT")
print(len(rows))
"""
"""Raw ``executemany`` as a whole command: the file read, each line one row of the records'
table as eventsourcing creates it, one transaction."""


def whole_append(text_path: Path) -> Callable[[Path], float]:
    def run(where: Path) -> float:
        took = run_process([sys.executable, "-m", "compute_ledger.cli.main", "append",
                            "--db", str(where / "ledger.sqlite3"), str(text_path)])
        assert took.stdout.startswith("appended "), took.stdout
        return took.seconds

    return run


def whole_raw(text_path: Path, n: int) -> Callable[[Path], float]:
    def run(where: Path) -> float:
        took = run_process([sys.executable, "-c", RAW_COMMAND, str(text_path),
                            str(where / "raw.sqlite3")])
        assert int(took.stdout) == n, took.stdout
        return took.seconds

    return run


def typed_decoding(text: bytes, n: int) -> Callable[[Path], float]:
    """The first ceiling's part: the typed decoding of every line (msgspec, into the fact
    types), nothing else checked."""
    decode = F.decoder(F.Fact).decode_lines

    def run(where: Path) -> float:
        started = time.perf_counter()
        with paused_gc():
            decoded = decode(text)
        seconds = time.perf_counter() - started
        assert len(decoded) == n
        return seconds

    return run


def every_table(path: Path) -> list[Table]:
    """Every table of a ledger file as the whole command left it, rows in their stored order,
    each created with the indexes it has."""
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                             "AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                             "ORDER BY name").fetchall()
        tables = []
        for name, create in found:
            indexes = [sql for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL", (name,))]
            cursor = conn.execute(f"SELECT * FROM {name}")
            rows = cursor.fetchall()
            marks = ", ".join("?" * len(cursor.description))
            tables.append(Table(";\n".join([create, *indexes]),
                                f"INSERT INTO {name} VALUES ({marks})", rows))
    finally:
        conn.close()
    return tables


class FactLog(Aggregate):
    """The smallest aggregate that records facts: each event carries one fact as a dict."""

    @event("Started")
    def __init__(self) -> None:
        self.count = 0

    @event("Recorded")
    def record(self, fact: dict[str, Any]) -> None:
        self.count += 1


class PlainApplication(Application[Any]):
    """eventsourcing as it comes: default mapper, default JSON transcoder."""


def per_save(facts: list[F.Fact]) -> Callable[[Path], float]:
    payloads = [msgspec.json.decode(F.canonical_bytes(f)) for f in facts]  # JSON-able dicts

    def run(where: Path) -> float:
        app = PlainApplication(env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(where / "per-save.sqlite3"),
        })
        try:
            log = FactLog()
            app.save(log)
            started = time.perf_counter()
            for payload in payloads:
                log.record(payload)
                app.save(log)
            seconds = time.perf_counter() - started
            again: FactLog = app.repository.get(log.id)
            assert again.count == len(payloads)
        finally:
            app.close()
        return seconds

    return run


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="facts to append (100000)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds (3)")
    parser.add_argument("--per-save", type=int, default=2_000,
                        help="facts for the one-save-per-fact baseline (2000)")
    parser.add_argument("--seed", type=int, default=SEED, help="generator seed")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 unless end to end / raw >= {RAW_BAR}")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1 or args.per_save < 1:
        parser.error("--n, --rounds and --per-save must be positive")

    print(f"compute-ledger bulk append: {args.n:,} facts, best of {args.rounds} rounds")
    for line in machine():
        print("  " + line)
    started = time.perf_counter()
    facts = generate(args.n, seed=args.seed)
    text = jsonl(facts)
    mix: dict[str, int] = {}
    for fact in facts:
        tag = str(fact.__struct_config__.tag)
        mix[tag] = mix.get(tag, 0) + 1
    print(f"  facts:   {len(text) / args.n:.0f} bytes each on average as JSON Lines; "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))
          + f" (generated in {time.perf_counter() - started:.1f}s)")

    started = time.perf_counter()
    checked = F.check_facts(facts)
    door_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="compute-ledger-bench-") as tmp:
        workdir = Path(tmp)
        indexing: list[float] = []
        ledger_s = best(args.rounds, ledger_append(checked, indexing), workdir, "ledger")
        stored = workdir / "ledger-0" / "ledger.sqlite3"
        events = stored_table(stored, "stored_events",
                              "originator_id, originator_version, topic, state",
                              "originator_version")
        index = stored_table(stored, "ledger_index", "fact_id, position, digest", "position")
        assert len(events.rows) == len(index.rows) == args.n
        raw_s = best(args.rounds, raw_executemany(events), workdir, "raw")
        raw_index_s = best(args.rounds, raw_executemany(events, index), workdir, "raw-index")
        subset = facts[: min(args.per_save, args.n)]
        save_s = best(args.rounds, per_save(subset), workdir, "per-save")
        text_s = best(args.rounds, ledger_append_text(text, args.n), workdir, "text")
        text_path = workdir / "facts.jsonl"
        text_path.write_bytes(text)
        whole_s = best(args.rounds, whole_append(text_path), workdir, "whole")
        whole_raw_s = best(args.rounds, whole_raw(text_path, args.n), workdir, "whole-raw")
        decode_s = best(args.rounds, typed_decoding(text, args.n), workdir, "decoded")
        written = every_table(workdir / "whole-0" / "ledger.sqlite3")
        rows_s = best(args.rounds, raw_executemany(*written), workdir, "every-row")

    timings = [
        Timing("(a) ledger append, checked facts", args.n, ledger_s),
        Timing("    the door for facts built in Python, info", args.n, door_s),
        Timing("    (a) then the fact index built, for info", args.n, min(indexing)),
        Timing("(b) raw sqlite3 executemany, same bytes", args.n, raw_s),
        Timing("    (b) plus the fact index rows, for info", args.n, raw_index_s),
        Timing("(c) Application.save() per fact", len(subset), save_s),
        Timing("(d) ledger end to end from JSON Lines", args.n, text_s),
        Timing("(e) the whole append command", args.n, whole_s),
        Timing("(f) raw executemany, the whole command", args.n, whole_raw_s),
        Timing("    typed decoding alone, nothing checked", args.n, decode_s),
        Timing("    (b) for every row (e) writes", args.n, rows_s),
    ]
    print()
    print(f"  {'':<42} {'facts':>9} {'seconds':>9} {'facts/s':>11}")
    for t in timings:
        print(f"  {t.name:<42} {t.facts:>9,} {t.seconds:>9.3f} {t.rate:>11,.0f}")
    whole = whole_raw_s / whole_s  # rates: (n / whole_s) / (n / whole_raw_s)
    save_ratio = (args.n / ledger_s) / (len(subset) / save_s)
    met = whole >= RAW_BAR
    print()
    print(f"  (e) whole command / (f) raw, whole command: {whole:.2f}  "
          f"(bar >= {RAW_BAR}: {'met' if met else 'NOT MET'})")
    print(f"  (d) end to end in process / (b) raw:         {raw_s / text_s:.2f}  (for info)")
    print(f"  (a) ledger / per-fact save:                  {save_ratio:,.1f}x  "
          "(bar: many times faster)")
    both = ledger_s + min(indexing)
    print(f"  (for info: (a) checked facts / raw: {raw_s / ledger_s:.2f}; (a) + its index / "
          f"raw records + index: {raw_index_s / both:.2f})")
    rows = sum(len(t.rows) for t in written)
    print("  ceilings, (b) over what the append cannot do without, all else free:")
    print(f"    typed decoding of the lines, then the raw insert: {raw_s / (decode_s + raw_s):.2f}")
    print(f"    the raw insert of every row (e) writes ({rows:,} rows in {len(written)} tables): "
          f"{raw_s / rows_s:.2f}")
    print(f"    both: typed decoding, then every row's raw insert: "
          f"{raw_s / (decode_s + rows_s):.2f}")
    if args.check and not met:
        print(f"FAIL: whole command / raw {whole:.2f} < {RAW_BAR}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
