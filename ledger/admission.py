"""Admitting a batch: what an append decides before and without the database.

Pure functions over facts and what the fact index says about them: ids and canonical bytes
(:func:`prepare`), which facts are new, which are duplicates and which clash with what is
stored (:func:`classify`), whether a correction or retraction names a fact it may change, and
the chained records of the new facts (:class:`Chain`).  The store does the I/O around them.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Iterable, Iterator

import msgspec

from compute_ledger.ledger.chain import content_digest
from compute_ledger.ledger.errors import InputError, Problem
from compute_ledger.ledger.facts import (
    Correction,
    Encoded,
    Fact,
    Lean,
    Retraction,
    canonical_encoder,
    decode_fact,
    through_door,
    with_id,
)
from compute_ledger.ledger.persistence import record_state


class Prepared(msgspec.Struct):
    """A fact through the door, with its id and canonical bytes; the fact itself as
    decoded (``kept``), or, for a :class:`~ledger.facts.Lean` one that did not keep it,
    decoded again from those bytes when :attr:`fact` is asked for."""

    line: int
    kept: Fact | None
    fact_id: str
    raw: bytes

    @property
    def fact(self) -> Fact:
        if self.kept is not None:
            return self.kept
        return decode_fact(self.raw)

    @property
    def digest(self) -> bytes:
        """Computed only when the id is found already stored (most facts never need it)."""
        return content_digest(self.raw)


class Batch(msgspec.Struct, frozen=True):
    prepared: list[Prepared]
    duplicates: int
    """Facts repeated inside the batch with the same content."""
    problems: list[Problem]

    naming: list[Prepared] = []
    """The batch's corrections and retractions, in order."""

    @property
    def targets(self) -> set[str]:
        """The facts that the batch's corrections and retractions name."""
        return {target(p.fact) for p in self.naming}  # type: ignore[misc]


def prepare(
    facts: Iterable[Fact | tuple[int, Fact] | Lean],
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Ids, canonical bytes and digests; duplicates and id clashes inside the batch."""
    prepared: list[Prepared] = []
    seen: dict[str, Prepared] = {}
    duplicates = 0
    problems: list[Problem] = []
    naming: list[Prepared] = []
    encode = canonical_encoder().encode
    for number, item in enumerate(facts, start=1):
        passed, found = through_door(number, item)  # a no-op for Checked facts
        if passed is None:
            problems += found
            continue
        if isinstance(passed, Lean):
            here = Prepared(passed.line, passed.kept, passed.fact_id, passed.raw)
            if not _admitted(here, seen, prepared, naming, problems):
                duplicates += 1
            if progress is not None and number % 1000 == 0:
                progress(1000)
            continue
        line, fact = passed
        if fact.id is None:
            fact = with_id(fact)
            raw = encode(fact)
        else:  # the door's canonical bytes, when it kept them
            raw = passed.raw if isinstance(passed, Encoded) else encode(fact)
        fact_id: str = fact.id  # type: ignore[assignment]  # with_id gave it one
        if not _admitted(Prepared(line, fact, fact_id, raw), seen, prepared, naming,
                         problems):
            duplicates += 1
        if progress is not None and number % 1000 == 0:
            progress(1000)
    if not prepared and not problems:
        raise InputError([Problem(None, "$", "no facts given")])
    return Batch(prepared, duplicates, problems, naming)


def _admitted(here: Prepared, seen: dict[str, Prepared], prepared: list[Prepared],
              naming: list[Prepared], problems: list[Problem]) -> bool:
    """Take ``here`` into the batch, unless its id came earlier in it: False for a repeat
    with the same content (a duplicate), a problem for one with other content."""
    earlier = seen.get(here.fact_id)
    if earlier is None:
        seen[here.fact_id] = here
        prepared.append(here)
        if isinstance(here.kept, (Correction, Retraction)):
            naming.append(here)
    elif earlier.raw != here.raw:
        problems.append(Problem(
            here.line, "$.id",
            f"id {here.fact_id!r} is already used at line {earlier.line} with other content; "
            "give this fact its own id, or record a correction",
        ))
    else:
        return False
    return True


def classify(
    batch: Batch,
    found: dict[str, tuple[int, bytes]],
    stored_fact: Callable[[int], Fact],
) -> tuple[list[Prepared], int]:
    """The new facts of a batch and how many are duplicates of stored ones, given where the
    index finds the batch's ids and targets (``found``: id -> position, content digest) and
    a way to read the stored fact at a position.  Raises :class:`InputError` listing every
    problem (the batch's own and those against the ledger); nothing is then written."""
    problems = list(batch.problems)
    new: list[Prepared] = [] if found else batch.prepared
    duplicates = 0
    for p in batch.prepared if found else ():
        stored = found.get(p.fact_id)
        if stored is None:
            new.append(p)
        elif stored[1] == p.digest:
            duplicates += 1
        else:
            problems.append(Problem(
                p.line, "$.id",
                f"fact {p.fact_id!r} is already in the ledger at position {stored[0]} with "
                "other content; the ledger is append-only: to change it, append a "
                f'correction ({{"type": "correction", "corrects": "{p.fact_id}", ...}})',
            ))
    if batch.naming:
        problems += _target_problems(new, batch.naming, found, stored_fact)
    if problems:
        raise InputError(sorted(problems, key=lambda q: (q.line or 0, q.path)))
    return new, duplicates


def _target_problems(
    new: list[Prepared], naming: list[Prepared], found: dict[str, tuple[int, bytes]],
    stored_fact: Callable[[int], Fact],
) -> list[Problem]:
    problems: list[Problem] = []
    in_batch = {p.fact_id: p for p in new}
    for p in naming:
        named = target(p.fact)
        if named is None or in_batch.get(p.fact_id) is not p:
            continue  # not new: a duplicate of a stored fact
        earlier = in_batch.get(named)
        original = earlier.fact if earlier is not None and earlier.line < p.line else None
        if original is None and named in found:
            original = stored_fact(found[named][0])
        problems += _target_problem(p, named, original)
    return problems


def _target_problem(p: Prepared, named: str, original: Fact | None) -> list[Problem]:
    field = "$.corrects" if isinstance(p.fact, Correction) else "$.retracts"
    if original is None:
        return [
            Problem(p.line, field, f"no fact {named!r} in the ledger or earlier in this batch")
        ]
    if isinstance(p.fact, Correction):
        if isinstance(original, (Correction, Retraction)):
            return [Problem(
                p.line, field,
                f"{named!r} is a {_tag(original)}; only facts (not corrections or retractions) "
                "can be corrected",
            )]
        if type(original) is not type(p.fact.fact):
            return [Problem(
                p.line, "$.fact.type",
                f"a correction keeps the type of the fact it corrects ({_tag(original)}), "
                f"got {_tag(p.fact.fact)}",
            )]
    elif isinstance(original, Retraction):
        return [Problem(p.line, field, f"{named!r} is itself a retraction")]
    return []


def _tag(fact: Fact) -> str:
    return str(fact.__struct_config__.tag)


def target(fact: Fact) -> str | None:
    """The fact a correction or retraction names (None for any other fact)."""
    if isinstance(fact, Correction):
        return fact.corrects
    if isinstance(fact, Retraction):
        return fact.retracts
    return None


class Chain:
    """Links new facts onto the head, lazily, so a large batch streams into the database."""

    def __init__(self, head_position: int, head_hash: str, recorded_at: str,
                 new: list[Prepared]) -> None:
        self._position = head_position
        self._recorded_at = recorded_at
        self._new = new
        self.last_hash = head_hash

    def states(self) -> Iterator[tuple[int, bytes]]:
        """``(position, stored state)`` of the new records: byte for byte what
        :class:`~compute_ledger.ledger.persistence.RecordMapper` writes for each record,
        linked by :func:`compute_ledger.ledger.chain.link_hash`."""
        sha256, hexlify = hashlib.sha256, binascii.hexlify
        recorded = self._recorded_at.encode()
        prev, position = self.last_hash.encode(), self._position
        for p in self._new:
            position += 1
            link = sha256(b"%b\n%d\n%b\n" % (prev, position, recorded))
            link.update(p.raw)
            digest = hexlify(link.digest())
            yield position, record_state(position, recorded, prev, digest, p.raw)
            prev = digest
        self.last_hash = prev.decode()
