"""The poisoning attack, rerun (issue 10): bad and borderline inputs thrown at the door.

Each input is one JSON line derived from a valid fact by one mutation: tricky quantities
(exponents, tiny and huge decimals, numbers instead of strings), a trailing newline or a
control, bidi or look-alike character in every id and slug, instants and dates at and beyond
the calendar's ends, deep nesting, repeated keys, unknown fields, wrong types, 10 MB values,
bytes that are not UTF-8, and free text full of terminal escapes.  Every input goes to
``append`` on one shared ledger; an accepted one must then survive every read command
(``verify``, ``verdict`` with ``--explain``, ``business``, ``timeline``, ``replay``, ``log``,
``show``, ``feed``, ``export``), its retraction must be accepted, and the human outputs must
hold no raw control character.  Printed: how many were tried, refused, accepted and readable,
and poisoned (accepted, then some command failed), which must be 0.

Usage::

    python -m bench.attack [--db PATH|URL] [--check]

``--check`` exits 1 if anything was poisoned, crashed or printed raw control characters.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from compute_ledger.cli.main import main as cli
from compute_ledger.ledger.errors import InputError
from compute_ledger.ledger.facts import parse_facts
from compute_ledger.projections.api import ComputeLedger

RANDOM = 1200
"""How many random single-leaf mutations of synthetic facts to try (fixed seed)."""


BASE: dict[str, Any] = {
    "type": "announcement", "occurred_at": "2026-05-06T10:00:00-07:00",
    "source": {"url": "https://example.org/a", "publisher": "Compute Wire"},
    "speaker": "xai", "channel": "official_site", "availability": "available",
    "deal": {"deal_id": "xai-attack", "provider": "xai", "customer": "initech",
             "service": "inference", "consideration": "cash", "facilities": ["colossus-1"],
             "capacity_mw": "100", "usd_per_month": "1000000", "starts_on": "2026-05-06"},
}
RULING: dict[str, Any] = {
    "type": "creator_ruling", "occurred_at": "2026-05-07T10:00:00Z",
    "source": {"url": "https://example.org/r"}, "ruling": "clarification",
    "summary": "a ruling",
}

CONFIRMATION: dict[str, Any] = {
    "type": "customer_confirmation", "occurred_at": "2026-05-08T10:00:00Z",
    "source": {"url": "https://example.org/c"}, "customer": "initech",
    "deal_id": "xai-attack", "in_use": True, "statement": "We run on it.",
}
OFFERING: dict[str, Any] = {
    "type": "offering", "occurred_at": "2026-05-09T10:00:00Z",
    "source": {"url": "https://example.org/o"},
    "offering": {"offering_id": "spacexai", "provider": "xai", "service": "model_api",
                 "signup_open": True, "available_from": "2026-05-09"},
}
QUANTITIES: list[Any] = [
    "1E-7", "1e-7", "0.0000001", "0.0000000", "0.000000000000001", "0." + "0" * 15 + "1",
    "1e3", "1E+3", "-1", "+1", "01", "00", "1.", ".5", "NaN", "Infinity", "-0", "",
    " 1", "1 ", "1\n", "\u0663", "\uff11", "1" * 24, "1" * 25, "1" * 1000, "1" * 1_000_000,
    "9" * 24 + "." + "9" * 15, "1." + "0" * 16, "1_000", "0x10", 1e-7, 100, 1.5, -1, 1e308,
    True, None, [], {},
]
SLUG_VALUES = [
    "{v}\n", "{v}\r", "{v}\t", "{v}\x00", "{v}\x1b[2J", "\u202e{v}", "{v} ", " {v}", "{V}",
    "{v}\u200b", "t\u0435sla", "{v}--x", "-{v}", "{v}-", "", "a" * 81, "{v}\u0085",
    "{v}\n\n", "\\n", "{v}/x", "{v}.x", "tesla\n",
]
ID_VALUES = [
    "sha256:" + "0" * 64, "sha256:" + "a" * 64, "SHA256:x", "{v}\n", "{v}\x1b", "z" * 129,
    "z" * 128, "a" * 1_000_000, "-a", "a-", ".a", "{v}\u2028", "", "Abc",
]
INSTANTS = [
    "2026-05-06", "2026-05-06T10:00:00", "2026-05-06T10:00:00.123456789Z",
    "0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z", "9998-12-31T23:59:59-08:00",
    "9999-01-01T07:59:59.999999Z", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
    "2026-05-06T24:00:00Z", "2026-05-06T10:00:00+24:00", "2026-05-06t10:00:00z",
    "2026-05-06T10:00:00Z\n", " 2026-05-06T10:00:00Z", 1778083200, None,
]
DAYS = ["0001-01-01", "0002-01-01", "9998-12-31", "9999-12-31", "2026-02-30", "2026-5-6",
        "2026-05-06\n", "2026-05-06T00:00:00Z", 20260506]
TEXTS = [
    "line\nStatus     RESOLVED_NO", "\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\u202eevil",
    "\x00nul", "\r\rback", "\U0001f600" * 100, "x" * 4000, "x" * 4001, "x" * 10_000_000,
    "\ud800", "\\u0000", "\x7f\x9b", "tab\there",
]


def _with(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(base))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _line(fact: dict[str, Any]) -> bytes:
    return json.dumps(fact, ensure_ascii=False).encode("utf-8", "surrogatepass")


def inputs(random: int = RANDOM) -> Iterator[tuple[str, bytes]]:
    """(kind, input line) pairs; each id is made unique so an accepted input is new."""
    n = 0

    def fresh(fact: dict[str, Any]) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {**fact, "id": fact.get("id", f"attack-{n:05d}")}

    for field in ("capacity_mw", "usd_per_month"):
        for value in QUANTITIES:
            yield "quantity", _line(fresh(_with(BASE, ["deal", field], value)))
    for path in (["deal", "deal_id"], ["deal", "customer"], ["deal", "provider"], ["speaker"]):
        for template in SLUG_VALUES:
            value = template.format(v=path[-1].replace("_", "-"), V=path[-1].upper())
            yield "slug", _line(fresh(_with(BASE, path, value)))
    for template in SLUG_VALUES:
        value = template.format(v="colossus-1", V="COLOSSUS-1")
        yield "slug", _line(fresh(_with(BASE, ["deal", "facilities"], [value])))
    for template in ID_VALUES:
        n += 1
        yield "id", _line({**BASE, "id": template.format(v=f"attack-id-{n}")})
    for value in INSTANTS:
        yield "instant", _line(fresh(_with(BASE, ["occurred_at"], value)))
    for field in ("starts_on", "ends_on"):
        for value in DAYS:
            yield "day", _line(fresh(_with(BASE, ["deal", field], value)))
    for text in TEXTS:
        yield "text", _line(fresh(_with(RULING, ["summary"], text)))
        for field in ("publisher", "title", "quote", "note"):
            yield "text", _line(fresh(_with(BASE, ["source", field], text)))
        yield "text", _line(fresh({**CONFIRMATION, "statement": text}))
        yield "text", _line(fresh(_with(BASE, ["source"], {"document": text})))
    for path in (["customer"], ["deal_id"]):
        for template in SLUG_VALUES:
            value = template.format(v=path[-1].replace("_", "-"), V=path[-1].upper())
            yield "slug", _line(fresh(_with(CONFIRMATION, path, value)))
    for template in SLUG_VALUES:
        value = template.format(v="spacexai", V="SPACEXAI")
        yield "slug", _line(fresh(_with(OFFERING, ["offering", "offering_id"], value)))
    for value in QUANTITIES[:12] + INSTANTS[:6] + DAYS[:4]:
        yield "type confusion", _line(fresh(_with(OFFERING, ["offering", "available_from"],
                                                  value)))
    for key in ("type", "id", "occurred_at", "speaker", "deal", "availability"):
        line = _line(fresh(BASE))
        yield "repeated key", line[:-1] + b', "' + key.encode() + b'": ' + (
            b'"resolve_yes"' if key != "deal" else b'{"deal_id": "other"}') + b"}"
    ruling = _line(fresh(RULING))
    yield "repeated key", ruling[:-1] + b', "ruling": "resolve_yes"}'
    for depth in (10, 100, 1000, 5000, 100_000):
        nested = b"[" * depth + b"]" * depth
        yield "nesting", _line(fresh(BASE))[:-1] + b', "extra": ' + nested + b"}"
        yield "nesting", b"[" * depth + b"]" * depth
    for name, value in (("unknown", {"extra": 1}), ("type", {"type": "nope"}),
                        ("availability", {"availability": "maybe"}),
                        ("deal", {"deal": "xai"}), ("source", {"source": None}),
                        ("channel", {"channel": 5})):
        yield f"shape:{name}", _line(fresh({**BASE, **value}))
    yield from _random_mutations(fresh, random)
    for raw in (b"", b"{}", b"[]", b"null", b"\xef\xbb\xbf" + _line(fresh(BASE)),
                b"\xff\xfe" + _line(fresh(BASE)), _line(fresh(BASE)).replace(b"xai", b"x\xc3ai", 1),
                _line(fresh(BASE)).replace(b"xai", b"x\x00ai", 1), b'{"type": "announcement"',
                _line(fresh(BASE)) + b" trailing"):
        yield "bytes", raw


def _leaves(node: Any, path: list[Any]) -> Iterator[list[Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, [*path, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, [*path, i])
    else:
        yield path


def _random_mutations(fresh: Any, count: int) -> Iterator[tuple[str, bytes]]:
    """Facts from the benchmarks' synthetic ledger, each with one leaf (any field, at any
    depth) replaced by a value from the pools above."""
    import random

    from bench.synthetic import generate
    from compute_ledger.ledger.facts import canonical_bytes

    rng = random.Random(20261202)
    small = [v for v in QUANTITIES + INSTANTS + DAYS + TEXTS
             if not (isinstance(v, str) and len(v) > 5000)]
    small += [t.format(v="xai", V="XAI") for t in SLUG_VALUES + ID_VALUES
              if len(t) < 5000]
    originals = [json.loads(canonical_bytes(f)) for f in generate(400, seed=7)]
    originals = [f for f in originals if f["type"] not in ("correction", "retraction")]
    for _ in range(count):
        fact = json.loads(json.dumps(rng.choice(originals)))
        fact.pop("id", None)
        path = rng.choice([p for p in _leaves(fact, []) if p != ["type"]])
        node = fact
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = rng.choice(small)
        yield "random", _line(fresh(fact))


READS = [["verify"], ["verdict"], ["verdict", "--explain"], ["verdict", "--json"],
         ["business"], ["business", "--json"], ["timeline"], ["replay"], ["log"], ["feed"]]
HUMAN = {"verdict", "business", "timeline", "log", "show"}


def _raw_controls(text: str) -> bool:
    return any((ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0
               or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
               for c in text)


def attack(db: str, workdir: Path, random: int = RANDOM) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    failures: list[str] = []
    runner = CliRunner()
    with ComputeLedger.open(db, environ={}) as ledger:
        for n, (kind, line) in enumerate(inputs(random)):
            counts["tried"] += 1
            try:
                facts = parse_facts(line)
                result = ledger.append(facts)
            except InputError:
                counts["refused"] += 1
                continue
            except Exception as exc:
                counts["crashed"] += 1
                failures.append(f"{kind}: append crashed: {type(exc).__name__}: {exc!s:.200}")
                continue
            if result.appended == 0:
                counts["duplicate"] += 1
                continue
            counts["accepted"] += 1
            fact_id = facts[0].fact.id
            ledger.sync_index()
            broken = _reads(runner, db, workdir, n, fact_id, failures=failures, kind=kind)
            retraction = json.dumps({"type": "retraction", "id": f"undo-{n}",
                                     "occurred_at": "2026-06-01T00:00:00Z",
                                     "retracts": fact_id, "reason": "attack"})
            try:
                ledger.append(parse_facts(retraction))
            except Exception as exc:
                broken = True
                failures.append(f"{kind}: its retraction was refused: {exc!s:.200}")
            broken |= _reads(runner, db, workdir, n, f"undo-{n}", failures=failures, kind=kind,
                             quick=True)
            counts["poisoned" if broken else "accepted and readable"] += 1
    return counts, failures


def _reads(runner: CliRunner, db: str, workdir: Path, n: int, fact_id: Any, *,
           failures: list[str], kind: str, quick: bool = False) -> bool:
    commands = READS[:2] if quick else [
        *READS, ["show", str(fact_id)], ["export", "sqlite", str(workdir / f"x{n}.db")]]
    broken = False
    for command in commands:
        done = runner.invoke(cli, [*command, "--db", db])
        if done.exit_code != 0:
            broken = True
            failures.append(f"{kind} {fact_id!r:.60}: {' '.join(command)} exited "
                            f"{done.exit_code}: {done.output[-200:]!r}")
        elif command[0] in HUMAN and "--json" not in command and _raw_controls(done.output):
            broken = True
            failures.append(f"{kind} {fact_id!r:.60}: {' '.join(command)} printed a raw "
                            "control character")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="the ledger to attack (default: a fresh SQLite file)")
    parser.add_argument("--random", type=int, default=RANDOM,
                        help=f"random mutations to try (default {RANDOM})")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        db = args.db or str(Path(scratch) / "attacked.sqlite3")
        counts, failures = attack(db, Path(scratch), args.random)
    for failure in failures:
        print("FAIL", failure)
    print(f"ledger      {'SQLite' if not args.db or '://' not in args.db else 'PostgreSQL'}")
    for key in ("tried", "refused", "accepted", "accepted and readable", "duplicate",
                "poisoned", "crashed"):
        print(f"{key:<22}{counts[key]:>6}")
    print(f"seconds     {time.monotonic() - started:.1f}")
    return 1 if args.check and (counts["poisoned"] or counts["crashed"] or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
